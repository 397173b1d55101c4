"""Cancelling a job of each kind at its heaviest allowed size takes effect within 5 s, whatever
the runner is doing (jobs.watchdog): the job runs here as on a worker (``job_execute`` in a
thread of its own), is cancelled once it is into its heavy part, and must be ``cancelled``, its
thread gone, within CANCEL_WITHIN_S.

On PostgreSQL (CI): the test's in-memory SQLite database locks whole tables between the
threads of one process, which a file database (``bin/run``'s) does not."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from bandits.optimneuralts import OptimNeuralTS
from bandits.runners import _settings, build_dataset
from bandits.screening import checkpoint_payload, save_checkpoint
from jobs import services
from jobs.models import Checkpoint, Job
from polypharmacy_site.testing import requires_postgres

pytestmark = [pytest.mark.live, requires_postgres, pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

CANCEL_WITHIN_S = 5.0

HEAVIEST_TRAIN_POLICY = {"algorithm": "ppo", "task_id": "all", "catalog": "classic", "total_steps": 20_000_000,
                         "n_envs": 256, "hidden": [2048, 2048, 2048, 2048], "eval_every": 10_000,
                         "test_episodes": 10_000}
HEAVIEST_EVALUATE = {"agent": "oracle:64", "task_id": "complex_tradeoff", "catalog": "classic", "episodes": 10_000}
# The largest dataset (its generation is the first minute of the job), then the longest training.
HEAVIEST_BANDIT = {"dataset": "neutral", "n_combinations": 200_000, "n_drugs": 2_000, "n_patterns": 100,
                   "mean_size": 20.0, "warmup": 100_000, "total_steps": 100_000, "warmup_epochs": 500,
                   "bandit_epochs": 200, "train_every": 1, "flag_every": 10, "hidden": 1024,
                   "random_baseline": "yes"}
LONGEST_BANDIT_FIT = {**HEAVIEST_BANDIT, "n_combinations": 20_000, "n_drugs": 200}


def cancel_when_heavy(job: Job, heavy_after_s: float, stage_words: str = "") -> dict[str, Any]:
    """Run ``job`` in a thread, cancel it ``heavy_after_s`` after it started (and once its stage
    has ``stage_words``), and time the cancellation."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["job"] = services.job_execute(job_id=job.pk, worker="test:1")
        except BaseException as exc:  # the test reads it
            outcome["error"] = exc
        finally:
            connection.close()

    runner = threading.Thread(target=work, daemon=True)
    runner.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status == "running" and stage_words in job.stage:
            break
        assert job.status in ("queued", "running"), (job.status, job.error)
        time.sleep(0.05)
    time.sleep(heavy_after_s)
    job.refresh_from_db()
    assert job.status == "running", (job.status, job.error, job.log[-2000:])
    stage = job.stage
    asked = time.monotonic()
    services.job_cancel(job=job)
    while time.monotonic() - asked < 60:
        job.refresh_from_db()
        if job.status != "running":
            break
        time.sleep(0.05)
    took = time.monotonic() - asked
    runner.join(60)
    print(f"{job.kind}: cancelled during {stage!r} in {took:.2f} s")
    assert "error" not in outcome, outcome
    assert job.status == "cancelled" and not runner.is_alive(), (job.status, job.error, job.log[-2000:])
    assert took <= CANCEL_WITHIN_S, f"{job.kind} took {took:.1f} s to stop (during {stage!r})"
    return {"took": took, "stage": stage}


def test_policy_training_at_its_heaviest_stops_within_5_s(classic, rex):
    job = services.job_create(kind="train_policy", params=HEAVIEST_TRAIN_POLICY, owner=rex)
    cancel_when_heavy(job, 3.0)


def test_an_evaluation_at_its_heaviest_stops_within_5_s(classic, rex):
    job = services.job_create(kind="evaluate", params=HEAVIEST_EVALUATE, owner=rex)
    cancel_when_heavy(job, 2.0)


@pytest.mark.parametrize("params, stage_words", [(HEAVIEST_BANDIT, "building the dataset"),
                                                 (LONGEST_BANDIT_FIT, "warm-up")],
                         ids=["while-generating-its-largest-dataset", "during-its-longest-warm-up-fit"])
def test_bandit_training_at_its_heaviest_stops_within_5_s(classic, rex, params, stage_words):
    job = services.job_create(kind="bandit_train", params=params, owner=rex)
    cancel_when_heavy(job, 2.0, stage_words)


def test_a_screening_of_the_largest_model_on_all_its_combinations_stops_within_5_s(classic, rex):
    """The largest model a training job may make (200,000 combinations of 2,000 drugs, 1,024
    hidden units), untrained: its scores do not matter here, their cost does."""
    params = services.job_params_validate("bandit_train", HEAVIEST_BANDIT)
    ds, drug_ids, names, meta = build_dataset(params)
    algo = OptimNeuralTS(ds.X, ds.rr, _settings(params), pip=ds.pip, pattern_index=ds.pattern_index)
    folder = Path(settings.JOBS_ARTIFACT_DIR) / "job-model"
    folder.mkdir(parents=True)
    save_checkpoint(folder / "bandit.pt", checkpoint_payload(algo, ds, drug_ids=drug_ids, drug_names=names,
                                                             dataset_meta=meta))
    del algo, ds
    Checkpoint.objects.create(name="largest", kind="bandit", path="job-model/bandit.pt")
    job = services.job_create(kind="bandit_screen", params={"checkpoint": "largest", "combinations": "all"}, owner=rex)
    cancel_when_heavy(job, 1.0, "loading model")


class SilentEndpoint:
    """An 'LLM' that takes the request and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def close(self) -> None:
        self.sock.close()
        for s in self.held:
            s.close()


def test_an_llm_suggestion_waiting_on_a_silent_endpoint_stops_within_5_s(classic, rex, settings):
    endpoint = SilentEndpoint()
    settings.LLM_API_BASE, settings.LLM_MODEL, settings.LLM_TIMEOUT_S = endpoint.url, "silent", 600.0
    try:
        job = services.job_create(kind="llm_suggest", params={"catalog": "classic"}, owner=rex)
        cancel_when_heavy(job, 2.0, "asking the LLM")
    finally:
        endpoint.close()
