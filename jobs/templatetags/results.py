"""Template filters that write a result's numbers as the presenters do (``agents.formatting``),
so a template never rounds with ``floatformat`` (which rounds differently from Python's format:
the cause of one mean reading 3.1 on a job page and 3.2 on the comparison page).

    {% load results %}
    {{ row.mean|num }}            score: 3 places        {{ row.steps|num:"steps" }}   1 place
    {{ row.ci|interval }}         [low, high]            {{ row.mean|mean_ci:row.ci }} mean [low, high]"""

from __future__ import annotations

from typing import Any

from django import template

from agents.formatting import format_interval, format_mean_interval, format_number
from agents.stats import MeanInterval

register = template.Library()


@register.filter
def num(value: Any, digits: int | str = "score") -> str:
    return format_number(value, digits)


@register.filter
def interval(value: MeanInterval | None, digits: int | str = "score") -> str:
    return format_interval(value, digits)


@register.filter
def mean_ci(mean: Any, ci: MeanInterval | None) -> str:
    # Scores and risk reductions share their places (3), so one filter serves both.
    return format_mean_interval(mean, ci)
