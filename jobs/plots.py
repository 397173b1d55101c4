"""Server-rendered SVG plots for the job pages and the admin: line charts (learning curves,
metrics over steps), interval charts (a few estimates with their bands) and histograms (score
distributions).

Hand-written SVG rather than a plotting library: the charts are simple, render with no
JavaScript, weigh a few kilobytes, and keep matplotlib (tens of megabytes) out of the web image."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0550ae", "#57606a")
# One colour per run in an overlay of learning curves (jobs.overlay): the palette, then four more.
RUN_COLORS = PALETTE + ("#e16f24", "#0a7b83", "#7d4e00", "#1b1f24")
W, H = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 150, 28, 40
# The legend column is RIGHT - 24 units wide: about 20 characters of the 11-unit legend font.
LEGEND_CHARS, LEGEND_LINE = 20, 13


@dataclass(frozen=True)
class Line:
    label: str
    points: Sequence[tuple[float, float]]
    color: str = ""  # "" takes the palette's colour for the line's place; overlays fix one per run


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step - 1e-9) * step
    return [start + i * step for i in range(int((hi - start) / step) + 2) if start + i * step <= hi + 1e-9 * step]


def _fmt(v: float) -> str:
    if abs(v) >= 1_000_000:
        return f"{v / 1_000_000:g}M"
    if abs(v) >= 1_000:
        return f"{v / 1_000:g}k"
    if v != 0 and abs(v) < 0.01:
        return f"{v:.2g}"
    return f"{v:.3g}"


def _frame(title: str, x_label: str, y_label: str, xs: tuple[float, float], ys: tuple[float, float],
           x_ticks: Sequence[tuple[float, str]] | None = None) -> list[str]:
    """The chart's box, grid, ticks and labels; ``x_ticks`` (value, text) replace the numeric
    ones (a chart of categories)."""
    (x0, x1), (y0, y1) = xs, ys
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" class="plot" role="img" '
           f'aria-label="{escape(title)}">',
           f'<text x="{LEFT}" y="16" class="plot-title">{escape(title)}</text>',
           f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#d0d7de"/>']
    for t in _ticks(y0, y1):
        y = TOP + ph - (t - y0) / (y1 - y0) * ph
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_fmt(t)}</text>')
    for t, text in x_ticks if x_ticks is not None else [(t, _fmt(t)) for t in _ticks(x0, x1)]:
        x = LEFT + (t - x0) / (x1 - x0) * pw
        out.append(f'<text x="{x:.1f}" y="{TOP + ph + 16}" text-anchor="middle" class="tick">{escape(text)}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 6}" text-anchor="middle" class="axis">{escape(x_label)}</text>')
    out.append(f'<text x="14" y="{TOP + ph / 2}" text-anchor="middle" class="axis" '
               f'transform="rotate(-90 14 {TOP + ph / 2})">{escape(y_label)}</text>')
    return out


def _wrap(label: str, width: int = LEGEND_CHARS) -> list[str]:
    """A legend label in lines of at most ``width`` characters (a longer word stays whole)."""
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _legend(entries: Sequence[tuple[str, str]]) -> list[str]:
    """(label, colour) keys right of the chart, long labels wrapped so none is cut at the edge."""
    out, y = [], TOP + 4
    for label, color in entries:
        lines = _wrap(label)
        out.append(f'<rect x="{W - RIGHT + 10}" y="{y}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{W - RIGHT + 24}" y="{y + 9}" class="legend">'
                   + "".join(f'<tspan x="{W - RIGHT + 24}" dy="{0 if k == 0 else LEGEND_LINE}">{escape(text)}</tspan>'
                             for k, text in enumerate(lines)) + "</text>")
        y += LEGEND_LINE * len(lines) + 4
    return out


def line_chart(title: str, lines: Sequence[Line], *, x_label: str = "step", y_label: str = "",
               y_range: tuple[float, float] | None = None, y_floor: float | None = None) -> SafeString:
    """Lines over a shared x axis; an empty chart says so. ``y_floor``: the axis starts there at
    the lowest and values below it are drawn on it (a relative risk is never negative, though
    a lower bound μ − 3σ can be)."""
    pts = [p for line in lines for p in line.points if all(map(math.isfinite, p))]
    if not pts:
        return mark_safe(f'<p class="muted">{escape(title)}: no data yet.</p>')
    if y_floor is not None:
        lines = [Line(line.label, [(x, max(y, y_floor)) for x, y in line.points]) for line in lines]
        pts = [(x, max(y, y_floor)) for x, y in pts]
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = y_range or (min(p[1] for p in pts), max(p[1] for p in pts))
    if x1 <= x0:  # one point: show it against the axis from 0
        x0, x1 = (0.0, x0 * 1.25) if x0 > 0 else (x0 - 1, x0 + 1)
    if y1 <= y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
        y0 = y0 if y_floor is None else max(y0, y_floor)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    out = _frame(title, x_label, y_label, (x0, x1), (y0, y1))
    for i, line in enumerate(lines):
        color = line.color or PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{LEFT + (x - x0) / (x1 - x0) * pw:.1f},{TOP + ph - (y - y0) / (y1 - y0) * ph:.1f}"
                          for x, y in line.points if math.isfinite(x) and math.isfinite(y))
        if coords:
            out.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
            if " " not in coords:  # a single point is invisible as a line
                cx, cy = coords.split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>')
    out.extend(_legend([(line.label, PALETTE[i % len(PALETTE)]) for i, line in enumerate(lines)]))
    out.append("</svg>")
    return mark_safe("".join(out))


@dataclass(frozen=True)
class Interval:
    """One category's estimate ``mid`` and its band [low, high]; ``tip`` is its hover text and
    ``marked`` draws its low end in the alarm colour (a flagged combination's bound)."""

    label: str
    mid: float
    low: float
    high: float
    tip: str = ""
    marked: bool = False


def interval_chart(title: str, items: Sequence[Interval], *, threshold: float | None = None, y_label: str = "",
                   x_label: str = "", labels: tuple[str, str, str] = ("estimate", "band", "low end")) -> SafeString:
    """Each category's estimate (a dot) with its band (a bar) and the band's low end (a dash),
    against a threshold line; the y axis starts at 0 and what lies below is drawn on it.
    ``labels`` name the dot, the bar and the dash in the legend."""
    items = [it for it in items if all(map(math.isfinite, (it.mid, it.low, it.high)))]
    if not items:
        return mark_safe(f'<p class="muted">{escape(title)}: no data.</p>')
    top = max([it.high for it in items] + ([threshold] if threshold is not None else []))
    y0, y1 = 0.0, max(top * 1.1, 0.1)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    n = len(items)
    x_of = [LEFT + (k + 0.5) / n * pw for k in range(n)]

    def y_of(v: float) -> float:
        return TOP + ph - (min(max(v, y0), y1) - y0) / (y1 - y0) * ph

    # Category ticks in data units of the frame's x range (0..n), at each item's centre.
    out = _frame(title, x_label, y_label, (0.0, float(n)), (y0, y1), x_ticks=[(k + 0.5, it.label)
                                                                               for k, it in enumerate(items)])
    est, band, low, alarm, line = PALETTE[0], "#8c959f", PALETTE[2], PALETTE[1], PALETTE[3]
    if threshold is not None:
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y_of(threshold):.1f}" y2="{y_of(threshold):.1f}" '
                   f'stroke="{line}" stroke-width="1.5" stroke-dasharray="5 3"/>')
    half = min(12.0, pw / n / 4)
    for x, it in zip(x_of, items):
        tip = f"<title>{escape(it.tip)}</title>" if it.tip else ""
        out.append(f'<g>{tip}<line x1="{x:.1f}" x2="{x:.1f}" y1="{y_of(it.high):.1f}" y2="{y_of(it.low):.1f}" '
                   f'stroke="{band}" stroke-width="3"/>'
                   f'<line x1="{x - half:.1f}" x2="{x + half:.1f}" y1="{y_of(it.low):.1f}" y2="{y_of(it.low):.1f}" '
                   f'stroke="{alarm if it.marked else low}" stroke-width="3"/>'
                   f'<circle cx="{x:.1f}" cy="{y_of(it.mid):.1f}" r="4" fill="{est}"/></g>')
    entries = [(labels[0], est), (labels[1], band), (labels[2], low)]
    if any(it.marked for it in items):
        entries.append((labels[2] + ", flagged", alarm))
    if threshold is not None:
        entries.append((f"threshold {_fmt(threshold)}", line))
    out.extend(_legend(entries))
    out.append("</svg>")
    return mark_safe("".join(out))


def histogram(title: str, values: Sequence[float], *, bins: int = 20, lo: float = 0.0, hi: float = 1.0,
              x_label: str = "grader score") -> SafeString:
    """Counts of ``values`` in ``bins`` equal bins over [lo, hi]."""
    if not values:
        return mark_safe(f'<p class="muted">{escape(title)}: no data.</p>')
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int((v - lo) / (hi - lo) * bins)))] += 1
    top = max(counts)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    out = _frame(title, x_label, "episodes", (lo, hi), (0, top))
    bw = pw / bins
    for i, c in enumerate(counts):
        h = c / top * ph if top else 0
        out.append(f'<rect x="{LEFT + i * bw + 1:.1f}" y="{TOP + ph - h:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" '
                   f'fill="{PALETTE[0]}"><title>{lo + i * (hi - lo) / bins:.2f}–{lo + (i + 1) * (hi - lo) / bins:.2f}: '
                   f'{c}</title></rect>')
    out.append("</svg>")
    return mark_safe("".join(out))


def series_lines(series: Sequence[dict], keys: Sequence[str], *, x: str = "step") -> list[Line]:
    """One Line per key of a job's series; a dict-valued key (e.g. ``eval`` per task) gives one
    line per entry (``eval: easy_screening``)."""
    lines: dict[str, list[tuple[float, float]]] = {}
    for point in series:
        if x not in point:
            continue
        for key in keys:
            value = point.get(key)
            if isinstance(value, dict):
                for sub, v in value.items():
                    if isinstance(v, (int, float)):
                        lines.setdefault(f"{key}: {sub}", []).append((float(point[x]), float(v)))
            elif isinstance(value, (int, float)):
                lines.setdefault(key, []).append((float(point[x]), float(value)))
    return [Line(label, pts) for label, pts in lines.items()]
