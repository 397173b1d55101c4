"""The job tests use the shared world (testsupport/world.py: rex the researcher queues jobs, sue
the supervisor may cancel anyone's, phil the pharmacist has no access; the classic catalog), with
fresh artefact folders and tiny parameters that run in seconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from catalog.selectors import catalog_cache_clear

# 1,024 steps (one rollout of 16 envs × 64 steps), a small network, three test episodes.
TINY_TRAIN = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 1024, "hidden": [16],
              "eval_every": 1, "test_episodes": 3}


@pytest.fixture(autouse=True)
def fresh_caches(settings, tmp_path) -> Iterator[None]:
    settings.JOBS_ARTIFACT_DIR = tmp_path / "artifacts"
    catalog_cache_clear()
    yield
    catalog_cache_clear()


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch) -> list[int]:
    """Jobs are executed by the tests themselves (``job_execute``); the broker is not involved
    here (test_worker.py runs real workers)."""
    sent: list[int] = []
    monkeypatch.setattr("jobs.services.job_enqueue", sent.append)
    return sent
