"""Sweeps (jobs.sweeps): one training configuration over seeds and a grid, as runs that any
workers take; the sweep waits off the workers and then gives mean ± std per task and every
run's curve. (Two real workers in parallel: test_worker.py.)"""

from __future__ import annotations

import json
import statistics
from typing import Any

import pytest

from jobs import services
from jobs.models import Job
from testsupport.world import client_for
from jobs.sweeps import MAX_RUNS

pytestmark = pytest.mark.django_db

TRAIN = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 1024, "hidden": [16], "eval_every": 1,
         "test_episodes": 3}


def run_sweep_to_the_end(sweep: Job) -> Job:
    with pytest.raises(services.JobDeferred):
        services.job_execute(job_id=sweep.pk)  # creates its runs and goes back to the queue
    sweep.refresh_from_db()
    assert sweep.status == "queued" and sweep.attempts == 0 and sweep.stage.startswith("waiting: 0 of")
    for run in Job.objects.filter(parent=sweep).order_by("pk"):
        assert services.job_execute(job_id=run.pk).status == "succeeded"
    done = services.job_execute(job_id=sweep.pk)
    assert done.status == "succeeded", done.error
    return done


def test_a_sweep_runs_each_seed_and_reports_mean_and_std_per_task(classic, rex, django_capture_on_commit_callbacks,
                                                                   no_enqueue):
    sweep = services.job_create(kind="sweep", params={"train": TRAIN, "seeds": [0, 1, 2]}, owner=rex)
    assert [r["params"]["seed"] for r in sweep.params["runs"]] == [0, 1, 2]
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(services.JobDeferred):
            services.job_execute(job_id=sweep.pk)
    runs = list(Job.objects.filter(parent=sweep).order_by("pk"))
    assert [r.params["seed"] for r in runs] == [0, 1, 2] and {r.kind for r in runs} == {"train_policy"}
    assert {r.queue for r in runs} == {"training"} and {r.owner_id for r in runs} == {rex.pk}
    assert set(no_enqueue) == {r.pk for r in runs}  # each run sent as its row committed
    # Claimed again before its runs end: still waiting, no attempt spent, no second set of runs.
    with pytest.raises(services.JobDeferred):
        services.job_execute(job_id=sweep.pk)
    assert Job.objects.filter(parent=sweep).count() == 3 and Job.objects.get(pk=sweep.pk).attempts == 0
    for run in runs:
        assert services.job_execute(job_id=run.pk).status == "succeeded"
    done = services.job_execute(job_id=sweep.pk)
    assert done.status == "succeeded" and done.attempts == 1
    (point,) = done.result["points"]
    scores = [Job.objects.get(pk=r.pk).result["test"]["easy_screening"]["mean_score"] for r in runs]
    summary = point["tasks"]["easy_screening"]["score"]
    assert summary["n"] == 3 and summary["mean"] == pytest.approx(statistics.fmean(scores))
    assert summary["std"] == pytest.approx(statistics.pstdev(scores)) and done.result["failed"] == []
    # The page: the table of mean ± std and one chart with the three runs' curves.
    page = client_for(rex).get(f"/jobs/{sweep.pk}/").content.decode()
    assert "mean ± population std" in page and f"{statistics.fmean(scores):.3f}"[:4] in page
    assert all(f"job {r.pk}" in page for r in runs)


@pytest.mark.slow
def test_a_grid_makes_one_point_per_combination(classic, rex):
    sweep = services.job_create(kind="sweep", params={"train": TRAIN, "seeds": [0, 1],
                                                      "grid": {"lr": [0.0003, 0.001], "ent_coef": [0.0, 0.01]}},
                                owner=rex)
    assert len(sweep.params["runs"]) == 8
    done = run_sweep_to_the_end(sweep)
    labels = [p["label"] for p in done.result["points"]]
    assert labels == ["ent_coef = 0.0, lr = 0.0003", "ent_coef = 0.0, lr = 0.001", "ent_coef = 0.01, lr = 0.0003",
                      "ent_coef = 0.01, lr = 0.001"]
    assert all(p["tasks"]["easy_screening"]["score"]["n"] == 2 for p in done.result["points"])


@pytest.mark.parametrize("params, field, words", [
    ({"train": {**TRAIN, "seed": 4}}, "params.train", "seed: each run's own"),
    ({"train": {**TRAIN, "total_steps": 10}}, "params.train", "total_steps"),
    ({"train": TRAIN, "grid": {"catalog": ["classic"]}}, "params.grid", "cannot be swept"),
    ({"train": TRAIN, "grid": {"lr": [2.0]}}, "params.grid", "lr"),
    ({"train": TRAIN, "grid": {"lr": [1e-4, 2e-4, 3e-4], "ent_coef": [0, 0.01, 0.02]}, "seeds": [0, 1, 2, 3]},
     "params.grid", f"36 runs; at most {MAX_RUNS}"),
    ({"train": TRAIN, "seeds": [1, 1]}, "params.seeds", "Each seed once"),
    ({"train": "[1, 2]"}, "params.train", "A JSON object"),
])
def test_a_bad_sweep_is_refused_naming_the_field(classic, rex, params, field, words):
    with pytest.raises(services.JobError) as err:
        services.job_create(kind="sweep", params=params, owner=rex)
    assert err.value.field == field and words in err.value.message, err.value.message
    assert not Job.objects.exists()


def test_a_sweep_counts_its_runs_against_the_queued_quota(classic, rex, settings):
    settings.JOBS_QUOTAS = {"researcher": (5, 2)}
    api = client_for(rex)
    body: dict[str, Any] = {"kind": "sweep", "params": {"train": TRAIN, "seeds": [0, 1, 2, 3, 4]}}
    refused = api.post("/api/jobs", json.dumps(body), content_type="application/json")
    assert refused.status_code == 429 and "these 6 jobs" in refused.json()["detail"]
    body["params"]["seeds"] = [0, 1, 2, 3]
    assert api.post("/api/jobs", json.dumps(body), content_type="application/json").status_code == 201


def test_cancelling_a_sweep_cancels_its_runs_that_have_not_ended(classic, rex):
    sweep = services.job_create(kind="sweep", params={"train": TRAIN, "seeds": [0, 1, 2]}, owner=rex)
    with pytest.raises(services.JobDeferred):
        services.job_execute(job_id=sweep.pk)
    first, second, third = Job.objects.filter(parent=sweep).order_by("pk")
    assert services.job_execute(job_id=first.pk).status == "succeeded"
    Job.objects.filter(pk=second.pk).update(status="running", worker="elsewhere:1")
    services.job_cancel(job=Job.objects.get(pk=sweep.pk))
    statuses = {j.pk: (j.status, j.cancel_requested) for j in Job.objects.all()}
    assert statuses[sweep.pk][0] == "cancelled" and statuses[first.pk] == ("succeeded", False)
    assert statuses[second.pk] == ("running", True) and statuses[third.pk][0] == "cancelled"
