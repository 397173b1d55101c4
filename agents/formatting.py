"""How a number of a result is written, everywhere it is shown: the job pages, the comparison
page, the admin, the downloads' tables and the runners' logs (pure Python, no Django; the
template filter ``jobs.templatetags.results`` calls these).

One rounding for all of them. Python's ``f"{x:.1f}"`` rounds the binary value half to even and
Django's ``floatformat`` rounds the shortest decimal text half up, so a mean of 63 steps over 20
episodes (3.15, stored as 3.149999…) read 3.1 on the job page and 3.2 on the comparison page.
Here the number's shortest decimal text (``repr``, what the JSON download holds) is rounded half
up: 3.15 → 3.2 and 0.3125 → 0.313, as a reader rounding the downloaded figure by hand would."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from agents.stats import MeanInterval

MISSING = "—"

# Decimal places per quantity, so each is written alike wherever it appears.
DIGITS = {"score": 3, "risk": 3, "steps": 1, "seconds": 1, "rate": 0}


def _places(digits: int | str) -> int:
    return DIGITS[digits] if isinstance(digits, str) else digits


def format_number(value: Any, digits: int | str = "score") -> str:
    """``value`` rounded half up to ``digits`` places (a count of places, or a quantity named in
    DIGITS); integers (counts) as they are, None as "—"."""
    if value is None:
        return MISSING
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    places = _places(digits)
    rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)  # no "-0.000" for a tiny negative
    return f"{rounded:f}"


def format_interval(interval: MeanInterval | None, digits: int | str = "score") -> str:
    """``[low, high]``, or "—" without an interval (one episode, or no std)."""
    if interval is None:
        return MISSING
    return f"[{format_number(interval.low, digits)}, {format_number(interval.high, digits)}]"


def format_mean_interval(mean: Any, interval: MeanInterval | None, digits: int | str = "score") -> str:
    """The mean with its 95 % interval beside it: ``0.412 [0.371, 0.453]``; the mean alone when
    there is no interval."""
    if mean is None:
        return MISSING
    text = format_number(mean, digits)
    return text if interval is None else f"{text} {format_interval(interval, digits)}"


def format_seeds(start: Any, episodes: Any) -> str:
    """A seed set as the range it covers: ``10000–10099`` for 100 episodes from seed 10000."""
    if not isinstance(start, int) or not isinstance(episodes, int) or episodes < 1:
        return MISSING
    return str(start) if episodes == 1 else f"{start}–{start + episodes - 1}"


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such a
# text cell gets a leading apostrophe. Numbers ("-0.25") are left as they are.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text (the jobs' table downloads, the audit's export)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
