"""jobs.services: validation, execution in-process, cancellation, and lost workers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.formatting import format_mean_interval, format_number
from agents.stats import mean_interval
from jobs import presenters, services
from jobs.context import LOG_ELIDED, MAX_LOG_CHARS
from jobs.models import Checkpoint, Job
from jobs.selectors import checkpoint_file, checkpoint_path
from jobs.tests.conftest import TINY_TRAIN

pytestmark = pytest.mark.django_db


def run(job: Job) -> Job:
    services.job_execute(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_it_fills_in_defaults_and_picks_the_kinds_queue(classic, rex, no_enqueue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(kind="train_policy", params={"catalog": "classic"}, owner=rex)
    assert no_enqueue == [job.pk]  # enqueued once the row is committed
    assert job.params["algorithm"] == "ppo" and job.params["total_steps"] == 200_000 and job.params["seed"] == 0
    assert job.queue == "training" and job.status == "queued" and job.owner == rex
    evaluation = services.job_create(kind="evaluate", params={"catalog": "classic"}, owner=rex)
    assert evaluation.queue == "celery"


@pytest.mark.parametrize("kind, params, field, words", [
    ("train_policy", {"total_steps": 10}, "params.total_steps", "greater than or equal to 1024"),
    ("train_policy", {"catalog": "nope"}, "params.catalog", "Unknown catalog 'nope'"),
    ("train_policy", {"algorithm": "dqn"}, "params.algorithm", "not a valid choice"),
    ("train_policy", {"hidden": [16, "x"]}, "params.hidden.1", "valid integer"),
    ("train_policy", {"totl_steps": 5000}, "params.totl_steps", "Unknown parameter"),
    ("evaluate", {"agent": "genius"}, "params.agent", "Unknown agent 'genius'"),
    ("evaluate", {"agent": "oracle:0"}, "params.agent", "width must be a whole number from 1 to 64"),
    ("evaluate", {"agent": "policy:missing"}, "params.agent", "No policy checkpoint named 'missing'"),
    ("evaluate", {"episodes": 0}, "params.episodes", "greater than or equal to 1"),
    ("llm_suggest", {"episode_id": "no-such-episode"}, "params.episode_id", "No episode"),
    ("teleport", {}, "kind", "Unknown job kind"),
])
def test_it_refuses_bad_parameters_naming_the_field_and_stores_nothing(classic, rex, kind, params, field, words):
    with pytest.raises(services.JobError) as err:
        services.job_create(kind=kind, params=params, owner=rex)
    assert err.value.field == field and words in err.value.message
    assert Job.objects.count() == 0


def ck_metrics_test(job: Job) -> dict:
    return Checkpoint.objects.get(job=job).metrics["test"]["easy_screening"]


def test_a_training_job_runs_to_a_checkpoint_with_a_learning_curve(classic, rex):
    job = run(services.job_create(kind="train_policy", params=TINY_TRAIN, owner=rex))
    assert job.status == "succeeded", job.error + job.log
    assert job.progress == 100 and job.attempts == 1 and job.finished_at and job.error == ""
    assert job.series and all("step" in p for p in job.series) and "eval" in job.series[-1]
    test = job.result["test"]["easy_screening"]
    assert test["episodes"] == 3 and 0.001 <= test["mean_score"] <= 0.999 and len(test["scores"]) == 3
    assert test["normalised_score"] is not None and test["oracle_score"] > test["random_score"]
    assert ck_metrics_test(job)["normalised_score"] == test["normalised_score"]
    ck = Checkpoint.objects.get(job=job)
    assert ck.name == f"easy_screening-classic-s0-job{job.pk}" and ck.kind == "policy"
    assert checkpoint_file(ck).exists() and checkpoint_path(ck.name) == checkpoint_file(ck)
    assert ck.metrics["test"]["easy_screening"]["mean_score"] == test["mean_score"]
    assert "test on easy_screening" in job.log


def test_the_same_parameters_train_the_same_policy(classic, rex):
    params = {**TINY_TRAIN, "algorithm": "reinforce", "seed": 3}
    a = run(services.job_create(kind="train_policy", params=params, owner=rex))
    b = run(services.job_create(kind="train_policy", params=params, owner=rex))
    assert a.status == b.status == "succeeded"
    assert a.result["test"] == b.result["test"]
    assert [p.get("train_score") for p in a.series] == [p.get("train_score") for p in b.series]


def test_an_evaluation_of_a_trained_checkpoint_and_of_the_heuristic(classic, rex):
    trained = run(services.job_create(kind="train_policy", params={**TINY_TRAIN, "checkpoint_name": "tiny"}, owner=rex))
    assert trained.status == "succeeded"
    for agent in ("policy:tiny", "heuristic", "random"):
        job = run(services.job_create(kind="evaluate", params={"agent": agent, "task_id": "easy_screening",
                                                                "catalog": "classic", "seed_start": 10000,
                                                                "episodes": 4}, owner=rex))
        assert job.status == "succeeded", job.error
        summary = job.result["summary"]
        assert summary["episodes"] == 4 and len(job.result["per_episode"]) == 4
        assert {"mean_score", "std_score", "score_ci95", "mean_risk_reduction", "std_risk_reduction",
                "risk_reduction_ci95", "mean_steps"} <= set(summary)
        # The normalised score beside the raw one, from the random agent and the oracle on the same seeds.
        assert summary["oracle_score"] > summary["random_score"]
        span = summary["oracle_score"] - summary["random_score"]
        assert summary["normalised_score"] == pytest.approx((summary["mean_score"] - summary["random_score"]) / span)
        table = presenters.present(job)["tables"][0]
        assert "normalised score" in table.columns
        assert table.rows[0][table.columns.index("normalised score")] == format_number(summary["normalised_score"])
        # The 95 % interval stored beside the mean, and shown with it.
        ci = mean_interval(summary["mean_score"], summary["std_score"], 4)
        assert summary["score_ci95"] == pytest.approx(ci.as_list())
        assert table.rows[0][table.columns.index("mean score [95 % CI]")] == format_mean_interval(
            summary["mean_score"], ci)
        assert [e["seed"] for e in job.result["per_episode"]] == [10000, 10001, 10002, 10003]


def test_a_runner_error_fails_the_job_with_its_message(classic, rex, monkeypatch):
    job = services.job_create(kind="evaluate", params={"catalog": "classic", "episodes": 2}, owner=rex)

    def boom(params, ctx):
        raise RuntimeError("the catalog exploded")

    monkeypatch.setattr("jobs.kinds.JobKind.runner", property(lambda self: boom))
    job = run(job)
    assert job.status == "failed" and job.error == "RuntimeError: the catalog exploded"
    assert "Traceback" in job.log and not Checkpoint.objects.exists()


@pytest.mark.slow
def test_a_job_log_keeps_its_newest_whole_lines_within_the_cap(classic, rex, monkeypatch, settings):
    monkeypatch.setattr("jobs.context.FLUSH_EVERY_S", 0.0)  # every report writes: many appends
    # The in-memory SQLite test database locks whole tables, so these 3,000 appends keep the
    # watchdog's beats out; on a loaded machine that lasts past half of JOBS_STALE_AFTER_S and the
    # fence stops the job (as it must for a worker whose beats do not land). Not what is tested here.
    settings.JOBS_STALE_AFTER_S = 3600
    job = services.job_create(kind="evaluate", params={"catalog": "classic", "episodes": 2}, owner=rex)

    def chatty(params, ctx):
        for i in range(3000):
            ctx.log(f"line {i:05d} " + "x" * 100)
            ctx.progress(i / 3000)
        return {"ok": True}

    monkeypatch.setattr("jobs.kinds.JobKind.runner", property(lambda self: chatty))
    job = run(job)
    assert job.status == "succeeded", job.error
    assert len(job.log) <= MAX_LOG_CHARS and job.log.startswith(LOG_ELIDED)
    lines = job.log[len(LOG_ELIDED):].splitlines()
    assert all(line.startswith("[") for line in lines)  # no line cut in half
    assert "line 02999" in lines[-1] and "line 00000" not in job.log
    numbers = [int(line.split("line ")[1][:5]) for line in lines]
    assert numbers == list(range(numbers[0], 3000))  # the newest lines, in order, none lost between


def test_a_queued_job_that_is_cancelled_never_runs(classic, rex):
    job = services.job_create(kind="evaluate", params={"catalog": "classic", "episodes": 2}, owner=rex)
    services.job_cancel(job=job)
    job = run(job)
    assert job.status == "cancelled" and job.attempts == 0 and job.result is None


def test_a_running_job_stops_at_its_next_report_when_cancelled(classic, rex, monkeypatch):
    job = services.job_create(kind="evaluate", params={"catalog": "classic", "episodes": 2}, owner=rex)

    def cancelled_midway(params, ctx):
        ctx.progress(0.3, "working", force=True)
        services.job_cancel(job=Job.objects.get(pk=ctx.job_id))
        ctx.progress(0.6, "still working", force=True)
        raise AssertionError("not reached")

    monkeypatch.setattr("jobs.kinds.JobKind.runner", property(lambda self: cancelled_midway))
    job = run(job)
    assert job.status == "cancelled" and job.progress == pytest.approx(60) and job.stage == "cancelled"


def test_a_finished_job_cannot_be_cancelled(classic, rex):
    job = run(services.job_create(kind="evaluate", params={"catalog": "classic", "episodes": 1}, owner=rex))
    with pytest.raises(services.JobConflict, match="only a queued or running job"):
        services.job_cancel(job=job)


def _running_elsewhere(job: Job, *, beat_age_s: float, worker: str = "elsewhere:4242") -> None:
    Job.objects.filter(pk=job.pk).update(status="running", worker=worker, attempts=job.attempts + 1,
                                         started_at=timezone.now(), heartbeat_at=timezone.now() - timedelta(seconds=beat_age_s))


def test_a_job_whose_worker_died_is_requeued_then_failed_when_out_of_attempts(
        classic, rex, settings, no_enqueue, django_capture_on_commit_callbacks):
    settings.JOBS_STALE_AFTER_S = 60
    job = services.job_create(kind="evaluate", params={"catalog": "classic", "episodes": 1}, owner=rex)
    _running_elsewhere(job, beat_age_s=5)
    assert services.job_reap_stale() == []  # a fresh heartbeat: alive
    _running_elsewhere(job, beat_age_s=120)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.job_reap_stale() == [job.pk]
    job.refresh_from_db()
    assert job.status == "queued" and job.worker == "" and "re-queued" in job.log
    assert no_enqueue[-1] == job.pk  # sent to the broker again
    job.attempts = 1
    _running_elsewhere(job, beat_age_s=120)  # the second attempt's worker dies too
    assert services.job_reap_stale() == [job.pk]
    job.refresh_from_db()
    assert job.status == "failed" and "was lost" in job.error and job.finished_at


def test_a_redelivered_message_of_a_job_a_live_worker_holds_is_ignored(classic, rex):
    job = services.job_create(kind="evaluate", params={"catalog": "classic", "episodes": 1}, owner=rex)
    _running_elsewhere(job, beat_age_s=1)
    assert services.job_execute(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == "running" and job.worker == "elsewhere:4242"


def test_a_job_of_a_dead_process_on_this_host_is_taken_over_at_once(classic, rex):
    import socket
    import subprocess

    dead = subprocess.run(["true"]).returncode == 0 and _a_dead_pid()
    job = services.job_create(kind="evaluate", params={"catalog": "classic", "episodes": 1}, owner=rex)
    _running_elsewhere(job, beat_age_s=1, worker=f"{socket.gethostname()}:{dead}")
    job = run(job)
    assert job.status == "succeeded" and job.attempts == 2 and "previous worker was lost" in job.log


def _a_dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_reap_jobs_command_reports(classic, rex, capsys):
    from django.core.management import call_command

    call_command("reap_jobs")
    assert "0 job(s) reaped" in capsys.readouterr().out


def test_a_defaulted_catalog_that_is_not_loaded_is_refused_at_its_field(rex):
    with pytest.raises(services.JobError) as err:  # no catalog loaded: the default "curated" is unknown
        services.job_create(kind="evaluate", params={}, owner=rex)
    assert err.value.field == "params.catalog" and "Unknown catalog 'curated'" in err.value.message
