"""The screening gate: at most SCREEN_CONCURRENCY screens (and predictions) scored at once per
web process; the others wait their turn, SCREEN_QUEUE_S at most, then get a 503 asking them to
try again.

Scoring is mostly Python holding the GIL (inflating and parsing up to 100,000 ids, validating,
encoding, the JSON of 10,000 results) and torch on every core. Six of the heaviest allowed
screens at once took /health's p99 to about 0.6 s on this 2-core machine; behind the gate the
event loop and every other request get their share (``bench/screen_flood.py``)."""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable

from django.conf import settings
from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer

from envcore.errors import UnavailableError

_gate: threading.BoundedSemaphore | None = None
_gate_size = 0
_gate_lock = threading.Lock()


class ScreeningBusy(UnavailableError):
    """Every screening slot stayed taken for SCREEN_QUEUE_S: 503."""


def screening_gate() -> threading.BoundedSemaphore | None:
    """This process's gate (None when SCREEN_CONCURRENCY is 0: no gate)."""
    global _gate, _gate_size
    with _gate_lock:
        if settings.SCREEN_CONCURRENCY <= 0:
            return None
        if _gate is None or _gate_size != settings.SCREEN_CONCURRENCY:
            _gate, _gate_size = threading.BoundedSemaphore(settings.SCREEN_CONCURRENCY), settings.SCREEN_CONCURRENCY
        return _gate


def rendered(data: Any) -> HttpResponse:
    """The JSON answer, rendered now (DRF renders after the view returns: outside the gate, and
    10,000 results are a good part of a screen's cost), exactly as DRF's JSONRenderer would."""
    return HttpResponse(JSONRenderer().render(data), content_type="application/json")


def gated(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``view`` (its whole body: parsing, scoring, building the answer) through the gate."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gate = screening_gate()
        if gate is None:
            return view(*args, **kwargs)
        if not gate.acquire(timeout=settings.SCREEN_QUEUE_S):
            raise ScreeningBusy(f"The screening endpoints are busy (at most {settings.SCREEN_CONCURRENCY} scored at "
                                f"once, SCREEN_CONCURRENCY; this request waited {settings.SCREEN_QUEUE_S} s). Try again "
                                "shortly, or queue a screening job.")
        try:
            return view(*args, **kwargs)
        finally:
            gate.release()

    return wrapper
