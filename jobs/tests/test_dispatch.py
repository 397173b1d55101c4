"""A job is never queued without its message, nor lost by a database hiccup (issue 14, first
points): a job the broker refuses is withdrawn and answered 503; a queued job whose message
never went out (re-queued while the broker was away) is sent by the reaper's sweep; a failed
heartbeat ends only that beat. Redis really stopped: test_worker.py."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace
from typing import cast

import kombu.exceptions
import pytest
from django.db import OperationalError
from django.utils import timezone

from jobs import services
from jobs.context import JobContext
from jobs.models import Job
from jobs.watchdog import RunnerGuard, Watchdog
from testsupport.world import client_for

pytestmark = pytest.mark.django_db
EVALUATE = {"kind": "evaluate", "params": {"catalog": "classic", "episodes": 2}}


def _context(job_id: int) -> JobContext:
    """What a watchdog reads of a job's context (its id, worker and stop reason), and no more."""
    return cast(JobContext, SimpleNamespace(job_id=job_id, worker="me:1", stop_reason=None))


def refusing_broker(job_id: int) -> None:
    raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")


@pytest.mark.django_db(transaction=True)  # the message goes out as the row commits
def test_a_job_the_broker_refuses_is_answered_503_and_leaves_no_row(classic, rex, monkeypatch):
    monkeypatch.setattr("jobs.services.job_enqueue", refusing_broker)

    resp = client_for(rex).post("/api/jobs", data=json.dumps(EVALUATE), content_type="application/json")

    assert resp.status_code == 503 and resp["Content-Type"] == "application/json"
    assert "nothing was queued" in resp.json()["detail"]
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)  # the message goes out as the row commits
def test_the_job_form_says_so_too_and_keeps_what_was_typed(classic, rex, monkeypatch):
    monkeypatch.setattr("jobs.services.job_enqueue", refusing_broker)

    resp = client_for(rex).post("/jobs/new/evaluate/", {"catalog": "classic", "episodes": "2"})

    assert resp.status_code == 503 and "nothing was queued" in resp.content.decode()
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)  # the message goes out as the row commits
def test_another_error_while_sending_is_not_taken_for_the_broker(classic, rex, monkeypatch):
    def bug(job_id: int) -> None:
        raise KeyError("a bug, not the broker")

    monkeypatch.setattr("jobs.services.job_enqueue", bug)
    with pytest.raises(KeyError):
        services.job_create(kind="evaluate", params=EVALUATE["params"], owner=rex)


def test_a_job_re_queued_while_the_broker_is_away_is_sent_by_a_later_sweep(
        classic, rex, settings, monkeypatch, django_capture_on_commit_callbacks):
    settings.JOBS_STALE_AFTER_S = 60
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(kind="evaluate", params=EVALUATE["params"], owner=rex)
    Job.objects.filter(pk=job.pk).update(status="running", worker="elsewhere:4242", attempts=1,
                                         celery_task_id="first-message", created_at=timezone.now() - timedelta(hours=1),
                                         heartbeat_at=timezone.now() - timedelta(seconds=120))
    monkeypatch.setattr("jobs.services.job_enqueue", refusing_broker)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.job_reap_stale() == [job.pk]
    job.refresh_from_db()
    assert job.status == "queued" and job.celery_task_id == ""  # re-queued, its message not sent
    assert services.job_dispatch_unsent() == []  # the broker is still away

    sent: list[int] = []
    monkeypatch.setattr("jobs.services.job_enqueue", sent.append)
    assert services.job_dispatch_unsent() == [job.pk] and sent == [job.pk]


def test_the_sweep_leaves_a_job_that_is_being_sent_alone(classic, rex, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr("jobs.services.job_enqueue", sent.append)
    fresh = Job.objects.create(kind="evaluate", params=EVALUATE["params"], owner=rex)
    old = Job.objects.create(kind="evaluate", params=EVALUATE["params"], owner=rex)
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(seconds=services.UNSENT_GRACE_S + 1))
    sent_already = Job.objects.create(kind="evaluate", params=EVALUATE["params"], owner=rex, celery_task_id="t")
    Job.objects.filter(pk=sent_already.pk).update(created_at=timezone.now() - timedelta(hours=1))

    assert services.job_dispatch_unsent() == [old.pk] and sent == [old.pk]
    assert fresh.pk not in sent


@pytest.mark.django_db(transaction=True)  # a failed beat closes its connection, as in its own thread
def test_a_heartbeat_that_fails_ends_only_that_beat(classic, rex, monkeypatch):
    job = services.job_create(kind="evaluate", params=EVALUATE["params"], owner=rex)
    Job.objects.filter(pk=job.pk).update(status="running", worker="me:1", heartbeat_at=timezone.now() - timedelta(hours=1))
    beat = Watchdog(_context(job.pk), RunnerGuard())
    real_filter, failures = Job.objects.filter, iter([True, True])

    def flaky_filter(*args, **kwargs):
        if next(failures, False):
            raise OperationalError("terminating connection due to administrator command")
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(Job.objects, "filter", flaky_filter)
    assert [beat.beat(), beat.beat(), beat.beat()] == [False, False, True]
    monkeypatch.undo()
    job.refresh_from_db()
    assert job.heartbeat_at > timezone.now() - timedelta(seconds=5)


def test_the_heartbeat_thread_goes_on_after_failed_beats(settings, monkeypatch):
    settings.JOBS_HEARTBEAT_S = 0.01
    beat = Watchdog(_context(0), RunnerGuard())
    monkeypatch.setattr(beat, "poll", lambda: None)
    results = iter([False, False, False, True])
    calls: list[bool] = []

    def one_beat() -> bool:
        calls.append(ok := next(results, True))
        if len(calls) >= 4:
            beat.stopped.set()
        return ok

    monkeypatch.setattr(beat, "beat", one_beat)
    beat.start()
    beat.join(5)
    assert calls == [False, False, False, True]


def test_a_claim_that_meets_a_database_error_is_tried_again_not_acked_away(classic, rex, monkeypatch):
    from jobs.tasks import job_execute_task

    job = services.job_create(kind="evaluate", params=EVALUATE["params"], owner=rex)
    real_claim, failures = services._claim, iter([True, True])

    def flaky_claim(job_id: int, me: str):
        if next(failures, False):
            raise OperationalError("server closed the connection unexpectedly")
        return real_claim(job_id, me)

    monkeypatch.setattr("jobs.services._claim", flaky_claim)
    job_execute_task.apply(args=(job.pk,))  # run here; a retry runs again here at once

    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 1, (job.status, job.error)


def test_a_bug_in_a_task_is_not_retried(classic, rex, monkeypatch):
    from jobs.tasks import job_execute_task

    job = services.job_create(kind="evaluate", params=EVALUATE["params"], owner=rex)
    calls: list[int] = []

    def buggy_claim(job_id: int, me: str):
        calls.append(job_id)
        raise KeyError("a bug")

    monkeypatch.setattr("jobs.services._claim", buggy_claim)
    result = job_execute_task.apply(args=(job.pk,))
    assert isinstance(result.result, KeyError) and calls == [job.pk]


def test_a_queued_job_whose_message_went_out_long_ago_is_sent_again(classic, rex, monkeypatch, settings):
    """Its message may have died with a Redis restarted without persistence, or with a killed
    worker that held it (Redis gives it back only after hours). Duplicates are harmless."""
    settings.JOBS_RESEND_AFTER_S = 60
    sent: list[int] = []
    monkeypatch.setattr("jobs.services.job_enqueue", sent.append)
    lost = Job.objects.create(kind="evaluate", params=EVALUATE["params"], owner=rex, celery_task_id="t1",
                              dispatched_at=timezone.now() - timedelta(seconds=61))
    recent = Job.objects.create(kind="evaluate", params=EVALUATE["params"], owner=rex, celery_task_id="t2",
                                dispatched_at=timezone.now() - timedelta(seconds=30))
    running = Job.objects.create(kind="evaluate", params=EVALUATE["params"], owner=rex, celery_task_id="t3",
                                 status="running", dispatched_at=timezone.now() - timedelta(hours=1))
    assert services.job_dispatch_unsent() == [lost.pk] and sent == [lost.pk]
    assert recent.pk not in sent and running.pk not in sent


def test_sending_and_deferring_restart_the_resend_clock(classic, rex, monkeypatch):
    job = Job.objects.create(kind="evaluate", params=EVALUATE["params"], owner=rex)
    monkeypatch.undo()  # the real job_enqueue (the conftest's stands in for it), with a stand-in broker
    monkeypatch.setattr("jobs.tasks.job_execute_task.apply_async", lambda *a, **kw: SimpleNamespace(id="tid"))
    before = timezone.now()
    services.job_enqueue(job.pk)
    job.refresh_from_db()
    assert job.celery_task_id == "tid" and job.dispatched_at >= before
    Job.objects.filter(pk=job.pk).update(dispatched_at=before - timedelta(hours=1))
    services.job_redispatched(job.pk)
    job.refresh_from_db()
    assert job.dispatched_at >= before


@pytest.mark.django_db(transaction=True)  # outside any transaction, as a worker's writes are
def test_a_write_that_meets_a_killed_connection_is_made_again_on_a_new_one(monkeypatch):
    from jobs.context import on_fresh_connections

    monkeypatch.setattr("jobs.context.time.sleep", lambda s: None)
    failures = iter([OperationalError("terminating connection due to administrator command")] * 2)

    def write() -> str:
        exc = next(failures, None)
        if exc is not None:
            raise exc
        return "written"

    assert on_fresh_connections(write, what="test") == "written"
    with pytest.raises(ValueError):  # a bug is not a connection failure: not tried again
        on_fresh_connections(lambda: (_ for _ in ()).throw(ValueError("bug")), what="test")
    always = OperationalError("the database is gone")
    with pytest.raises(OperationalError):
        on_fresh_connections(lambda: (_ for _ in ()).throw(always), what="test")


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_end_meets_a_killed_connection_still_ends(classic, rex, monkeypatch):
    """Before, the job 'failed' on its last progress report, its end could not be written either,
    and it stayed running until the reaper started it again."""
    monkeypatch.setattr("jobs.context.time.sleep", lambda s: None)
    job = services.job_create(kind="evaluate", params=EVALUATE["params"], owner=rex)
    real = services._finish_success
    failures = iter([True])

    def flaky(*args, **kwargs):
        if next(failures, False):
            raise OperationalError("terminating connection due to administrator command")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_finish_success", flaky)
    assert services.job_execute(job_id=job.pk).status == "succeeded"
