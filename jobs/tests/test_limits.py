"""jobs.limits: quotas of queued and running jobs by role, and the memory ceiling of a job process
(its live test, on a real worker: test_worker.py)."""

from __future__ import annotations

import json
import multiprocessing
import threading

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from envcore.errors import LimitExceeded
from jobs import limits, services
from jobs.models import Job
from testsupport.world import client_for
from polypharmacy_site.settings import envquotas
from polypharmacy_site.testing import requires_postgres
from testsupport.world import make_user

EVALUATE = {"agent": "heuristic", "task_id": "easy_screening", "catalog": "classic", "episodes": 1}


@pytest.fixture
def small_quotas(settings) -> None:
    settings.JOBS_QUOTAS = {"researcher": (2, 1), "supervisor": (1, 1)}


def test_quotas_are_read_from_the_environment_and_a_bad_one_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("JOBS_QUOTAS", " researcher=5/2 , supervisor=1/0,")
    assert envquotas("JOBS_QUOTAS", "") == {"researcher": (5, 2), "supervisor": (1, 0)}
    for bad in ("researcher=5", "researcher=a/2", "=1/1", "researcher:5/2"):
        monkeypatch.setenv("JOBS_QUOTAS", bad)
        with pytest.raises(ImproperlyConfigured, match="JOBS_QUOTAS"):
            envquotas("JOBS_QUOTAS", "")


@pytest.mark.django_db
def test_a_job_over_the_queued_quota_is_a_429_naming_the_limit_and_stores_nothing(classic, rex, small_quotas):
    api = client_for(rex)
    post = lambda: api.post("/api/jobs", json.dumps({"kind": "evaluate", "params": EVALUATE}),  # noqa: E731
                            content_type="application/json")
    assert [post().status_code, post().status_code] == [201, 201]
    refused = post()
    assert refused.status_code == 429 and refused["Content-Type"] == "application/json"
    message = refused.json()["detail"]
    assert "You have 2 jobs queued" in message and "researcher" in message and "JOBS_QUOTAS" in message, message
    assert Job.objects.count() == 2
    # The job page says the same, at the top of the form, with the fields kept.
    page = client_for(rex).post("/jobs/new/evaluate/", {**EVALUATE, "episodes": "1"})
    assert page.status_code == 429 and b"2 jobs queued" in page.content
    # Cancelling one frees its place.
    services.job_cancel(job=Job.objects.first())
    assert post().status_code == 201


@pytest.mark.django_db
def test_roles_add_up_and_a_role_without_a_quota_has_none(classic, small_quotas, settings):
    both = make_user("bea", "researcher", "supervisor")
    assert limits.quota_of(both) == (limits.Quota(2, 1), "researcher")  # the wider of the two
    boss = make_user("root", "researcher")
    boss.is_superuser = True
    boss.save()
    assert limits.quota_of(boss) is None  # superuser is not listed: no quota
    for _ in range(5):
        services.job_create(kind="evaluate", params=EVALUATE, owner=boss)
    assert limits.quota_of(None) is None
    services.job_create(kind="evaluate", params=EVALUATE, owner=None)  # a job nobody owns (the admin's)


@pytest.mark.django_db
def test_a_job_over_the_running_quota_waits_queued_and_runs_once_a_place_is_free(classic, rex, small_quotas):
    first = services.job_create(kind="evaluate", params=EVALUATE, owner=rex)
    second = services.job_create(kind="evaluate", params=EVALUATE, owner=rex)
    Job.objects.filter(pk=first.pk).update(status="running", worker="elsewhere:1")  # a live worker has it
    with pytest.raises(services.JobDeferred, match="1 jobs running"):
        services.job_execute(job_id=second.pk, worker="me:1")
    second.refresh_from_db()
    assert second.status == "queued" and second.attempts == 0 and second.stage.startswith("waiting: its owner has 1")
    Job.objects.filter(pk=first.pk).update(status="succeeded")
    assert services.job_execute(job_id=second.pk, worker="me:1").status == "succeeded"


def test_the_task_takes_a_deferred_jobs_message_again_later(monkeypatch, settings):
    from jobs.tasks import job_execute_task

    settings.JOBS_DEFER_S = 7
    retried: dict = {}

    def deferred(**_kw):
        raise services.JobDeferred("waiting")

    def retry(**kwargs):
        retried.update(kwargs)
        return RuntimeError("retry")

    monkeypatch.setattr(services, "job_execute", deferred)
    monkeypatch.setattr(services, "job_redispatched", lambda job_id: retried.setdefault("redispatched", job_id))
    monkeypatch.setattr(job_execute_task, "retry", retry)
    with pytest.raises(RuntimeError, match="retry"):
        job_execute_task.run(1)
    assert retried == {"redispatched": 1, "countdown": 7, "max_retries": None}


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_jobs_submitted_at_once_never_pass_the_quota_together(classic, rex, small_quotas, no_enqueue):
    """Twelve threads submit at the same moment: exactly the quota's two are created."""
    assert connection.vendor == "postgresql"
    start, outcomes = threading.Barrier(12), []

    def submit() -> None:
        start.wait()
        try:
            services.job_create(kind="evaluate", params=EVALUATE, owner=rex)
            outcomes.append("created")
        except LimitExceeded:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["created"] * 2 + ["refused"] * 10
    assert Job.objects.filter(owner=rex).count() == 2


def _allocate_under(limit_mb: int, size_mb: int, answer: multiprocessing.Queue) -> None:
    try:
        with limits.memory_ceiling(limit_mb):
            try:
                np.ones(size_mb * 2**20, dtype=np.uint8)
                answer.put("allocated")
            except MemoryError as exc:
                answer.put(f"refused: {limits.out_of_memory(exc)}")
        np.ones(size_mb * 2**20, dtype=np.uint8)  # the former limit is back
        answer.put("allocated after")
    except BaseException as exc:  # the parent reads what happened
        answer.put(repr(exc))


@pytest.mark.slow
def test_the_memory_ceiling_refuses_an_allocation_past_it_and_lifts_afterwards():
    """In a process of its own (the ceiling holds for a whole process, as in a pool process)."""
    import resource

    used_mb = 0
    for line in open("/proc/self/status"):
        if line.startswith("VmData:"):
            used_mb = int(line.split()[1]) // 1024
    assert resource.getrlimit(resource.RLIMIT_DATA)[0] == resource.RLIM_INFINITY
    answer: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_allocate_under, args=(used_mb + 200, 1024, answer))
    child.start()
    child.join(60)
    assert [answer.get(timeout=5), answer.get(timeout=5)] == ["refused: True", "allocated after"]
    assert limits.out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8"))
    assert not limits.out_of_memory(RuntimeError("shape mismatch"))
