"""The hand-written SVG plots: legends that fit their column, relative-risk axes that start at 0."""

from __future__ import annotations

import re

from jobs.plots import LEGEND_CHARS, Interval, Line, interval_chart, line_chart


def _ticks(svg: str) -> list[str]:
    return re.findall(r'class="tick">([^<]*)<', svg)


def test_a_long_legend_label_wraps_instead_of_being_cut():
    svg = line_chart("t", [Line("severe pairs inside a flagged one", [(0, 0.1), (1, 0.2)])])
    lines = re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg)
    assert " ".join(lines) == "severe pairs inside a flagged one"
    assert len(lines) == 2 and all(len(text) <= LEGEND_CHARS for text in lines)


def test_a_floor_keeps_a_relative_risk_axis_at_zero_or_above():
    svg = line_chart("t", [Line("bound", [(1, -1.5), (2, 0.4), (3, 1.3)])], y_floor=0.0)
    assert _ticks(svg) and not any(t.startswith("-") for t in _ticks(svg))
    assert re.search(r'points="[^"]*"', svg)  # the line is drawn, its negative value on the axis


def test_an_interval_chart_shows_each_estimate_its_band_and_the_threshold_from_zero():
    items = [Interval("1", 1.2, -0.3, 2.7, tip="#1 a + b"), Interval("2", 0.9, 0.5, 1.3, marked=True),
             Interval("3", 1.0, 0.8, 1.2)]
    svg = interval_chart("Predicted RR", items, threshold=1.1, y_label="relative risk",
                         labels=("predicted RR (μ)", "μ ± 3σ", "lower bound (μ − 3σ)"))
    assert svg.count("<circle") == 3 and "<title>#1 a + b</title>" in svg
    ticks = _ticks(svg)
    assert ticks[:1] == ["0"] and not any(t.startswith("-") for t in ticks)
    assert {"1", "2", "3"} <= set(ticks)  # one category tick per combination
    assert "threshold 1.1" in svg and "lower bound (μ − 3σ), flagged" in " ".join(
        re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg))
