"""Template filters of the review and audit pages."""

from __future__ import annotations

from typing import Any

from django import template

from reviews.audit_format import payload_items

register = template.Library()


@register.filter
def payload_lines(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return payload_items(payload or {})


@register.filter
def pad_to(cells: list[Any], drugs: list[Any]) -> range:
    """The empty cells that complete a row of the pairs' triangle to the table's width."""
    return range(max(len(drugs) - 1 - len(cells), 0))
