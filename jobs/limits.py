"""What one user may ask of the workers: quotas on queued and running jobs by role, and the
memory ceiling of a job process (README, Jobs: limits).

The size of each parameter is bounded by its kind's serializer (``jobs.params``,
``bandits.params``); these bound how many jobs, and how much memory one may take.

- Queued: a job over its owner's quota is refused at creation (429, naming the limit).
- Running: a worker that claims a job whose owner already runs their quota leaves it queued and
  takes its message back a little later (``JOBS_DEFER_S``), so one user's jobs cannot hold
  every worker while others wait.
- Memory: in a worker process, the job runs under an ``RLIMIT_DATA`` of ``JOBS_MEMORY_LIMIT_MB``
  (heap and anonymous mappings: what numpy and torch allocate), so a job that grows past it fails
  with a MemoryError that says so, and the worker and the machine go on."""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model

from envcore.errors import LimitExceeded
from jobs.models import Job
from accounts.permissions import principals


class Quota(NamedTuple):
    queued: int
    running: int


def quota_of(user: Any) -> tuple[Quota, str] | None:
    """The user's quota and the principal it is for: the widest of their principals' (roles add
    up), None when any of them has none (a superuser, by default) or there is no user."""
    if user is None or not getattr(user, "pk", None):
        return None
    found = [(Quota(*settings.JOBS_QUOTAS[p]), p) for p in sorted(principals(user)) if p in settings.JOBS_QUOTAS]
    if not found or len(found) < len(principals(user)):
        return None
    queued = max(found, key=lambda qp: qp[0].queued)
    running = max(found, key=lambda qp: qp[0].running)
    return Quota(queued[0].queued, running[0].running), queued[1]


def lock_owner(owner_id: int) -> None:
    """Serialise the quota checks of one owner (inside the caller's transaction): two jobs
    submitted at once cannot both take the last place."""
    get_user_model().objects.select_for_update().filter(pk=owner_id).values_list("pk", flat=True).first()


def check_queued_quota(owner: Any, adding: int = 1) -> None:
    """Inside the transaction that creates ``adding`` jobs (a sweep and its runs). Raises
    LimitExceeded (429) naming the limit."""
    quota = quota_of(owner)
    if quota is None:
        return
    lock_owner(owner.pk)
    queued = Job.objects.filter(owner_id=owner.pk, status=Job.Status.QUEUED).count()
    if queued + adding > quota[0].queued:
        these = "this job" if adding == 1 else f"these {adding} jobs (a sweep and its runs)"
        raise LimitExceeded(
            f"You have {queued} jobs queued; with {these} that would pass the most a {quota[1]} may have "
            f"(JOBS_QUOTAS: {quota[0].queued} queued, {quota[0].running} running). Wait for some to start, or "
            "cancel some.", field="kind")


def running_quota_full(job: Job) -> str | None:
    """Inside the claim's transaction: why ``job`` must wait for one of its owner's other jobs to
    end (the stage shown while it waits), or None when it may run now."""
    if job.owner_id is None:
        return None
    quota = quota_of(get_user_model().objects.filter(pk=job.owner_id).first())
    if quota is None:
        return None
    lock_owner(job.owner_id)
    running = Job.objects.filter(owner_id=job.owner_id, status=Job.Status.RUNNING).exclude(pk=job.pk).count()
    if running < quota[0].running:
        return None
    return (f"waiting: its owner has {running} jobs running, the most a {quota[1]} may run at once "
            f"(JOBS_QUOTAS)")


# ── memory ─────────────────────────────────────────────────────────────────
_in_worker_process = False


def mark_worker_process() -> None:
    """Called in each Celery pool process: jobs run here get the memory ceiling (a web process
    running a job eagerly, or a test, does not: the ceiling would hold for the whole process)."""
    global _in_worker_process
    _in_worker_process = True


@contextlib.contextmanager
def memory_ceiling(limit_mb: int | None = None) -> Iterator[None]:
    """The process's data size (heap and private mappings) held under ``limit_mb`` (default
    JOBS_MEMORY_LIMIT_MB; 0: none) while the block runs; the former limit afterwards."""
    limit_mb = settings.JOBS_MEMORY_LIMIT_MB if limit_mb is None else limit_mb
    if not limit_mb:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    wanted = limit_mb * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def job_memory_ceiling() -> contextlib.AbstractContextManager[None]:
    return memory_ceiling() if _in_worker_process else contextlib.nullcontext()


def out_of_memory(exc: BaseException) -> bool:
    """Did an allocation fail? (numpy raises MemoryError; torch a RuntimeError that says so.)"""
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def memory_message() -> str:
    return (f"The job needed more memory than a job may use ({settings.JOBS_MEMORY_LIMIT_MB:,} MB, "
            f"JOBS_MEMORY_LIMIT_MB): ask for a smaller size.")
