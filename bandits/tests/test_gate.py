"""bandits.gate (at most SCREEN_CONCURRENCY screens scored at once; 503 past SCREEN_QUEUE_S), the
screening body validated in chunks, and the scorer's row deduplication. /health under a flood of
the heaviest screens: bench/screen_flood.py."""

from __future__ import annotations

import threading
from typing import Any
import time

import numpy as np
import pytest
from django.test import Client

from bandits import gate
from bandits.api import VALIDATE_CHUNK
from bandits.screening import unique_rows
from bandits.tests.test_api import PAIR, post, tiny_model  # noqa: F401  (fixture)
from jobs.models import Checkpoint


def test_a_screen_that_waits_past_the_queue_limit_is_a_503_saying_so(tiny_model: Checkpoint, settings) -> None:
    settings.SCREEN_CONCURRENCY, settings.SCREEN_QUEUE_S = 1, 1
    held = gate.screening_gate()
    assert held is not None and held.acquire()  # another request is being scored
    try:
        started = time.monotonic()
        response = post(Client(), "/bandit/screen", {"combinations": [PAIR]})
        assert response.status_code == 503 and response["Content-Type"] == "application/json"
        assert "SCREEN_CONCURRENCY" in response.json()["detail"] and 1 <= time.monotonic() - started < 5
    finally:
        held.release()
    assert post(Client(), "/bandit/screen", {"combinations": [PAIR]}).status_code == 200


def test_no_more_calls_than_the_gate_allows_run_at_once(settings) -> None:
    """The decorator itself, on six threads (the views' own database would not take them here)."""
    settings.SCREEN_CONCURRENCY = 2
    inside, most, lock = [0], [0], threading.Lock()

    @gate.gated
    def score() -> str:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.2)
        with lock:
            inside[0] -= 1
        return "scored"

    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(score())) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert answers == ["scored"] * 6 and most[0] == 2
    settings.SCREEN_CONCURRENCY = 0  # no gate
    assert gate.screening_gate() is None and score() == "scored"


def test_a_bad_combination_past_the_first_chunk_is_named_by_its_index_in_the_request(tiny_model: Checkpoint) -> None:
    combos: list[list[Any]] = [PAIR] * (3 * VALIDATE_CHUNK)
    combos[2 * VALIDATE_CHUNK + 7] = [PAIR[0], 5]
    response = post(Client(), "/bandit/screen", {"combinations": combos})
    assert response.status_code == 422
    item = response.json()["detail"][0]
    assert item["loc"] == ["body", "combinations", 2 * VALIDATE_CHUNK + 7, 1], item
    assert item["msg"].startswith(f"combinations.{2 * VALIDATE_CHUNK + 7}.1:")
    good = post(Client(), "/bandit/screen", {"combinations": [PAIR] * (3 * VALIDATE_CHUNK)})
    assert good.status_code == 200 and good.json()["n"] == 3 * VALIDATE_CHUNK


def test_unique_rows_gives_each_distinct_row_once_and_where_every_row_went() -> None:
    rng = np.random.default_rng(0)
    X = (rng.random((500, 30)) < 0.1).astype(np.uint8)
    X = np.concatenate([X, X[::3]])
    unique, inverse = unique_rows(X)
    assert len(unique) == len(np.unique(X, axis=0))
    assert (unique[inverse] == X).all()
    empty, where = unique_rows(np.zeros((0, 30), dtype=np.uint8))
    assert empty.shape == (0, 30) and len(where) == 0
