"""Writes on jobs: create (validate + enqueue), cancel, execute (claim, run, store), reap.

The Celery task only calls ``job_execute``; everything that decides what happens to a job is
here, so the page, the API, the admin and the worker agree."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import traceback
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone
from envcore.errors import ConflictError, UnavailableError, ValidationError
from jobs import limits, storage
from jobs.context import JobCancelled, JobContext, JobLost, JobStop, log_appended, on_fresh_connections
from jobs.kinds import KINDS
from jobs.models import Checkpoint, Job, TrainingState
from jobs.sweeps import JobWaiting
from jobs.watchdog import RunnerGuard, Watchdog
from episodes.errors import connection_failed
from jobs.signals import reaper_swept

logger = logging.getLogger(__name__)


class JobError(ValidationError):
    """A request about a job that cannot be honoured; ``field`` names the parameter at fault."""


class JobConflict(ConflictError):
    """The job's state does not allow this (cancelling a finished job): 409."""


class JobDeferred(Exception):
    """The job cannot run now (its owner runs their quota of jobs already, or it is a sweep
    waiting on its runs): it stays queued and its message is taken again JOBS_DEFER_S later
    (``jobs.tasks``)."""


class QueueUnavailable(UnavailableError):
    """The broker refused the job's message: nothing was queued (503)."""


QUEUE_UNAVAILABLE = "The job queue (the broker) is not answering; nothing was queued. Try again shortly."


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ── create ─────────────────────────────────────────────────────────────────
def _errors(detail: Any, prefix: str) -> list[tuple[str, str]]:
    """Every (dotted field, message) in a DRF error tree, in the serializer's field order, so a
    form can show all its errors at once. A list field's item is named by its index."""
    if isinstance(detail, dict):
        return [pair for name, sub in detail.items()
                for pair in _errors(sub, prefix if name == "non_field_errors" else f"{prefix}.{name}")]
    if isinstance(detail, list):
        if all(isinstance(d, str) for d in detail):
            return [(prefix, str(d)) for d in detail[:1]]  # one message per field is enough
        return [pair for i, sub in enumerate(detail) if sub for pair in _errors(sub, f"{prefix}.{i}")]
    return [(prefix, str(detail))]


def job_params_validate(kind: str, params: Any) -> dict[str, Any]:
    """The parameters with defaults filled in; JobError naming ``params.<field>`` otherwise (its
    message is the first error's; its ``errors`` hold one item per field at fault)."""
    if kind not in KINDS:
        raise JobError(f"Unknown job kind {kind!r}; expected one of {', '.join(KINDS)}.", field="kind")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise JobError("params must be a JSON object.", field="params")
    serializer = KINDS[kind].serializer(data=params)
    if not serializer.is_valid():
        found = _errors(serializer.errors, "params") or [("params", "Invalid parameters.")]
        items: list[dict[str, Any]] = [{"type": "value_error", "loc": field.split("."), "msg": f"{field.removeprefix('params.')}: {message}",
                  "input": None} for field, message in found]
        raise JobError(items[0]["msg"], field=found[0][0], errors=items)
    return dict(serializer.validated_data)


def job_create(*, kind: str, params: Any, owner: Any = None) -> Job:
    """Validate, store and enqueue (once the row is committed) a job. When the broker refuses
    the message the row is withdrawn and QueueUnavailable (503) raised: a job is either queued
    with its message sent, or not there at all. (Should the withdrawal fail too, the row stays
    without a task id and the reaper's sweep sends it once the broker is back.)"""
    clean = job_params_validate(kind, params)
    spec = KINDS[kind]
    owner = owner if getattr(owner, "pk", None) else None
    with transaction.atomic():
        limits.check_queued_quota(owner, adding=1 + len(clean.get("runs", [])))  # a sweep brings its runs
        job = Job.objects.create(kind=kind, params=clean, owner=owner, queue=spec.queue,
                                 max_attempts=spec.max_attempts, stage="queued")
        transaction.on_commit(lambda: _dispatch_or_withdraw(job.pk))
    return job


def _dispatch_or_withdraw(job_id: int) -> None:
    refused = _send(job_id)
    if refused is not None:
        logger.warning("job %s: the broker refused its message (%s); withdrawn", job_id, refused)
        # Only while nothing has touched it: no worker can have it, no message having gone out.
        Job.objects.filter(pk=job_id, status=Job.Status.QUEUED, celery_task_id="", attempts=0).delete()
        raise QueueUnavailable(QUEUE_UNAVAILABLE) from refused


def _send(job_id: int) -> Exception | None:
    """Send the job's message (``job_enqueue``); the broker's error when it refused it. Any
    other error is raised: a bug is not an unavailable broker."""
    import kombu.exceptions

    try:
        job_enqueue(job_id)
        return None
    except Exception as exc:
        # kombu wraps the transport's errors; redis-py's and the socket's come through as they are.
        if isinstance(exc, (kombu.exceptions.OperationalError, OSError)) or type(exc).__module__.startswith("redis."):
            return exc
        raise


def sweep_create_runs(*, sweep_id: int, runs: list[dict[str, Any]]) -> list[Job]:
    """The sweep's runs, created once (a sweep claimed again finds them), in the order given;
    each is sent as its row commits (a refused message is left for the reaper's sweep). Not
    counted against the queued quota: the sweep counted them when it was created."""
    spec = KINDS["train_policy"]
    with transaction.atomic():
        sweep = Job.objects.select_for_update().get(pk=sweep_id)
        existing = list(Job.objects.filter(parent_id=sweep_id).order_by("pk"))
        if existing:
            return existing
        created = []
        for run in runs:
            clean = job_params_validate("train_policy", run["params"])
            child = Job.objects.create(kind="train_policy", params=clean, owner_id=sweep.owner_id, parent=sweep,
                                       queue=spec.queue, max_attempts=spec.max_attempts, stage="queued (sweep run)")
            transaction.on_commit(functools.partial(_send_or_leave_for_the_sweep, child.pk))
            created.append(child)
        return created


def job_copy(*, job: Job, owner: Any = None) -> Job:
    """A new job with the parameters ``job`` was asked for: what its kind's form takes, without
    what validation derived and stored beside them (a screening job's model file, say), which the
    form would refuse as unknown. Validated afresh, so a copy of an old job meets today's rules."""
    fields = {name for name, f in KINDS[job.kind].serializer().fields.items() if not f.read_only}
    return job_create(kind=job.kind, params={k: v for k, v in job.params.items() if k in fields}, owner=owner)


# A job just created is being sent by its creator: the sweep leaves it alone this long.
UNSENT_GRACE_S = 30


# The task is named, not imported: jobs.tasks calls this module, so importing it here would
# close a circle. A signature by name still runs the task in place under
# CELERY_TASK_ALWAYS_EAGER, since jobs.apps registers it in every process.
EXECUTE_TASK = "jobs.execute"


def job_enqueue(job_id: int) -> None:
    job = Job.objects.only("queue").get(pk=job_id)
    result = current_app.signature(EXECUTE_TASK, args=[job_id]).apply_async(queue=job.queue)
    Job.objects.filter(pk=job_id).update(celery_task_id=result.id or "", dispatched_at=timezone.now())


def job_redispatched(job_id: int) -> None:
    """The job's message goes out again (a deferral's retry): its clock for the resend restarts."""
    Job.objects.filter(pk=job_id).update(dispatched_at=timezone.now())


# ── cancel ─────────────────────────────────────────────────────────────────
def job_cancel(*, job: Job) -> Job:
    """A queued job is cancelled at once (a worker that later receives it does nothing); a running
    one is asked to stop and stops within seconds (jobs.watchdog). A sweep's runs that have not
    ended are cancelled with it."""
    done = _cancel_one(job)
    for child in Job.objects.filter(parent_id=job.pk).exclude(status__in=Job.TERMINAL):
        try:
            _cancel_one(child)
        except JobConflict:  # it ended meanwhile
            pass
    return done


def _cancel_one(job: Job) -> Job:
    now = timezone.now()
    if Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
            status=Job.Status.CANCELLED, cancel_requested=True, finished_at=now, stage="cancelled before it started"):
        TrainingState.objects.filter(job_id=job.pk).delete()  # re-queued after a lost worker: not resumed now
        job.refresh_from_db()
        return job
    if not Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(cancel_requested=True, stage="cancelling…"):
        job.refresh_from_db()
        raise JobConflict(f"Job {job.pk} is {job.status}; only a queued or running job can be cancelled.", field="status")
    job.refresh_from_db()
    return job


# ── execute (in the worker) ────────────────────────────────────────────────
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _abandoned(job: Job, now: Any) -> bool:
    """Is the worker recorded on a running job gone? Sure when it ran on this host under a pid
    that no longer exists; otherwise when its heartbeat is older than JOBS_STALE_AFTER_S."""
    host, _, pid = job.worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
        return True
    beat = job.heartbeat_at or job.started_at
    return beat is None or beat < now - timedelta(seconds=settings.JOBS_STALE_AFTER_S)


def _claim(job_id: int, me: str) -> Job | str | None:
    """The job, now running here; None when there is nothing to run; why it waits (a str) when
    its owner runs their quota already."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_terminal:
            return None  # deleted, or a duplicate delivery of a finished job: nothing to do
        if job.status == Job.Status.RUNNING and not _abandoned(job, now):
            return None  # another live worker has it
        if job.cancel_requested:
            Job.objects.filter(pk=job.pk).update(status=Job.Status.CANCELLED, finished_at=now, stage="cancelled")
            return None
        if job.attempts >= job.max_attempts:
            Job.objects.filter(pk=job.pk).update(
                status=Job.Status.FAILED, finished_at=now, stage="failed",
                error=job.error or f"Gave up after {job.attempts} attempt(s): the worker was lost each time.")
            return None
        waiting = limits.running_quota_full(job)
        if waiting is not None:
            if job.stage != waiting:
                Job.objects.filter(pk=job.pk).update(stage=waiting)
            return waiting  # job_execute raises JobDeferred, once this transaction has committed
        retry = job.attempts > 0
        job.status, job.worker, job.heartbeat_at = Job.Status.RUNNING, me, now
        job.attempts += 1
        job.started_at = job.started_at or now
        job.stage = "starting"
        line = f"[{now:%H:%M:%S}] attempt {job.attempts} of {job.max_attempts} on {me}" + (
            " (the previous worker was lost)\n" if retry else "\n")
        Job.objects.filter(pk=job.pk).update(status=job.status, worker=me, heartbeat_at=now, attempts=job.attempts,
                                             started_at=job.started_at, stage=job.stage, log=log_appended(line))
        return job


def job_execute(*, job_id: int, worker: str | None = None) -> Job | None:
    """Claim the job, run its kind's runner, store the result. Safe to call twice for one job (a
    redelivered message): a finished job, or one a live worker holds, is left alone."""
    me = worker or worker_id()
    job = _claim(job_id, me)
    if isinstance(job, str):
        raise JobDeferred(job)
    if job is None:
        return None
    ctx = JobContext(job, me, create_sweep_runs=sweep_create_runs)
    guard = RunnerGuard()
    dog = Watchdog(ctx, guard)
    dog.start()
    try:
        try:
            try:
                result, failure = _run_runner(job, ctx)
            finally:
                guard.disarm()  # from here on nothing is raised in this thread from outside
        except JobStop as late:  # raised by the watchdog as the runner was ending
            result, failure = None, late
        if failure is None:
            on_fresh_connections(lambda: _finish_success(job, ctx, result), what=f"job {job.pk}'s result")
        elif isinstance(failure, JobCancelled):
            _after_interrupt(guard)
            _end(job, ctx, Job.Status.CANCELLED, stage="cancelled", error="")
        elif isinstance(failure, JobLost):
            logger.warning("job %s: this worker lost it; stopping without writing", job.pk)
            _after_interrupt(guard)
            _log_stopped(job, ctx)
        elif connection_failed(failure) and job.attempts < job.max_attempts:
            # The database connection failed under the runner (past the retries of its writes):
            # not the job's fault. Another attempt goes on (a training from its saved state).
            _after_interrupt_close()
            note = (f"[{timezone.now():%H:%M:%S}] the database connection failed under attempt {job.attempts} "
                    f"({failure}); re-queued\n")
            if on_fresh_connections(lambda: _back_to_queue(job, ctx, stage="re-queued after a database failure",
                                                           note=note), what=f"job {job.pk}"):
                transaction.on_commit(lambda: _send_or_leave_for_the_sweep(job.pk))
        elif isinstance(failure, JobWaiting):  # a sweep whose runs go on: back to the queue
            if on_fresh_connections(lambda: _back_to_queue(job, ctx, stage=f"waiting: {failure}", refund_attempt=True),
                                    what=f"job {job.pk}"):
                raise JobDeferred(f"waiting: {failure}")  # its message comes back (jobs.tasks)
        else:  # any runner error fails the job with its message; the worker goes on
            _after_interrupt(guard)
            _end(job, ctx, Job.Status.FAILED, stage="failed", error=_failure_text(job, ctx, failure))
    finally:
        dog.stop()
    job.refresh_from_db()
    return job


def _log_stopped(job: Job, ctx: JobContext) -> None:
    """Says in the job's log that this attempt has stopped (whoever has the job now): the line
    comes before any later attempt's in the log, as the stop came before that attempt's claim."""
    try:
        Job.objects.filter(pk=job.pk).update(
            log=log_appended(f"[{timezone.now():%H:%M:%S}] the attempt on {ctx.worker} stopped: the job was "
                             "taken from it\n"))
    except Exception as exc:  # the database away: the reaper's own line will say the worker was lost
        logger.warning("job %s: could not log the stop (%s)", job.pk, exc)


def _back_to_queue(job: Job, ctx: JobContext, *, stage: str, note: str = "", refund_attempt: bool = False) -> bool:
    """The job, which this worker still has, back to the queue: after a database failure for its
    next attempt (``note`` says why), or a sweep waiting on its runs with the attempt given back.
    Only while this worker has it."""
    changes: dict[str, Any] = {"attempts": F("attempts") - 1} if refund_attempt else {"celery_task_id": ""}
    return Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, worker=ctx.worker).update(
        status=Job.Status.QUEUED, worker="", stage=stage[:200], series=ctx.series,
        log=log_appended(ctx.pending_log() + note), **changes) == 1


def _run_runner(job: Job, ctx: JobContext) -> tuple[dict[str, Any] | None, BaseException | None]:
    """(result, None), or (None, why it stopped). Under the job's memory ceiling."""
    try:
        with limits.job_memory_ceiling():
            result = KINDS[job.kind].runner(dict(job.params), ctx)
        ctx.progress(1.0, "finishing", force=True)
        return result, None
    except (Exception, JobStop) as exc:
        return None, exc


def _failure_text(job: Job, ctx: JobContext, exc: BaseException) -> str:
    if limits.out_of_memory(exc):
        logger.warning("job %s went over its memory ceiling: %s", job.pk, exc)
        ctx.log(f"{type(exc).__name__}: {exc}")
        return limits.memory_message()
    logger.error("job %s failed", job.pk, exc_info=exc)
    ctx.log("".join(traceback.format_exception(exc)))
    return f"{type(exc).__name__}: {exc}"


def _after_interrupt(guard: RunnerGuard) -> None:
    """An exception raised in the runner at any point may have cut a database call in half:
    the job's end is written on a fresh connection."""
    if guard.interrupted:
        _after_interrupt_close()


def _after_interrupt_close() -> None:
    if connection.in_atomic_block:  # a caller's transaction (a test's): not ours to end
        return
    try:
        connection.close()
    except Exception:  # an already broken connection
        pass


def _finish(job: Job, ctx: JobContext, status: str, *, stage: str, error: str,
            result: dict[str, Any] | None = None) -> bool:
    updates: dict[str, Any] = dict(status=status, stage=stage, error=error, finished_at=timezone.now(),
                                   series=ctx.series, log=log_appended(ctx.pending_log()))
    if status == Job.Status.SUCCEEDED:
        updates.update(progress=100.0, result=result)
    ended = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, worker=ctx.worker).update(**updates) == 1
    if ended:
        TrainingState.objects.filter(job_id=job.pk).delete()  # a finished job is not resumed
    return ended


def _end(job: Job, ctx: JobContext, status: str, *, stage: str, error: str) -> None:
    """``_finish`` on fresh connections when the database connection fails (jobs.context)."""
    on_fresh_connections(lambda: _finish(job, ctx, status, stage=stage, error=error), what=f"job {job.pk}'s end")


def _finish_success(job: Job, ctx: JobContext, result: dict[str, Any] | None) -> None:
    with transaction.atomic():
        if not _finish(job, ctx, Job.Status.SUCCEEDED, stage="done", error="", result=result):
            return
        for ck in ctx.checkpoints:
            row = Checkpoint.objects.create(name=ck.name, kind=ck.kind, job_id=job.pk, path=ck.path,
                                            task_id=ck.task_id, catalog=ck.catalog, metrics=ck.metrics)
            storage.store(row)  # readable from any machine from now on


# ── reap (jobs whose worker died) ──────────────────────────────────────────
def job_reap_stale(*, now: Any = None) -> list[int]:
    """Running jobs whose worker is gone: re-queued while they have attempts left, else failed.
    Called by every worker every JOBS_REAP_EVERY_S and by ``manage.py reap_jobs``; never by a
    page: a GET must not write (the list shows a dead worker's job as running until a reaper runs)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JOBS_STALE_AFTER_S)
    reaped: list[int] = []
    for job in Job.objects.filter(status=Job.Status.RUNNING).only(
            "id", "worker", "heartbeat_at", "started_at", "attempts", "max_attempts", "cancel_requested"):
        if not _abandoned(job, now):
            continue
        # Conditional on nothing having changed since it was read: a worker that beats (or a
        # reaper in another process that got there first) wins.
        stale = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, worker=job.worker, heartbeat_at=job.heartbeat_at)
        since = f"{job.heartbeat_at:%H:%M:%S}" if job.heartbeat_at else "it started"
        note = f"[{now:%H:%M:%S}] worker {job.worker} lost (no heartbeat since {since})"
        if job.attempts < job.max_attempts and not job.cancel_requested:
            if stale.update(status=Job.Status.QUEUED, worker="", celery_task_id="",
                            stage="re-queued after its worker was lost", log=log_appended(note + "; re-queued\n")):
                transaction.on_commit(functools.partial(_send_or_leave_for_the_sweep, job.pk))
                reaped.append(job.pk)
        elif stale.update(status=Job.Status.FAILED, finished_at=now, stage="failed",
                          error=f"The worker running this job was lost ({job.worker}) after "
                                f"{job.attempts} attempt(s).",
                          log=log_appended(note + "; failed\n")):
            TrainingState.objects.filter(job_id=job.pk).delete()
            reaped.append(job.pk)
    return reaped


def _send_or_leave_for_the_sweep(job_id: int) -> bool:
    refused = _send(job_id)
    if refused is not None:
        logger.warning("job %s: the broker refused its message (%s); the next sweep sends it", job_id, refused)
    return refused is None


def job_dispatch_unsent(*, now: Any = None) -> list[int]:
    """Queued jobs whose message never went out (the broker was away when they were created or
    re-queued: no task id after UNSENT_GRACE_S), or went out JOBS_RESEND_AFTER_S ago and was
    never claimed, are sent now, oldest first. The second kind covers a message lost with the
    broker (a Redis restarted without persistence) or held by a worker that was killed (Redis
    gives an unacked message back only after its visibility timeout, hours). A duplicate message
    is harmless: the claim is conditional. Every worker's reaper calls it after reaping; so does
    ``manage.py reap_jobs``."""
    now = now or timezone.now()
    queued = Job.objects.filter(status=Job.Status.QUEUED)
    unsent = (queued.filter(celery_task_id="", created_at__lt=now - timedelta(seconds=UNSENT_GRACE_S))
              | queued.exclude(celery_task_id="").filter(
                  dispatched_at__lt=now - timedelta(seconds=settings.JOBS_RESEND_AFTER_S))).order_by("pk")
    sent = []
    for pk in unsent.values_list("pk", flat=True):
        if not _send_or_leave_for_the_sweep(pk):
            break  # the broker is still away: the next sweep tries again
        sent.append(pk)
    return sent


class Reaper(threading.Thread):
    """Started in every worker process (``jobs.tasks``): reaps every JOBS_REAP_EVERY_S, and
    then sends ``reaper_swept``, on which other apps hang their own periodic chores (reviews
    checkpoints the audit chain when it is due, so a quiet site's newest records are anchored too)."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="job-reaper")

    def run(self) -> None:
        while True:
            try:
                close_old_connections()
                job_reap_stale()
                job_dispatch_unsent()
                for receiver, failed in reaper_swept.send_robust(sender=Reaper):
                    if isinstance(failed, Exception):
                        logger.error("after reaping: %s failed", receiver, exc_info=failed)
            except Exception:
                logger.exception("reaping stale jobs")
            finally:
                connection.close()
            time.sleep(settings.JOBS_REAP_EVERY_S)
