"""The thread that watches a running job: its heartbeat, and its stop within seconds.

A runner reports progress when its loop gets round to it, which at the heaviest allowed sizes
can be minutes apart (one PPO update of 256 environments, a bandit's warm-up fit). So the
watchdog does not wait for it: every ``POLL_S`` it reads whether the job was cancelled or taken
from this worker, tells the runner (``JobContext.stop_reason``, checked at every report), and
when the runner has not stopped ``GRACE_S`` later, raises the stop in the runner's thread
(``RunnerGuard``). Python delivers such an exception at the runner's next bytecode, so any loop
written in Python stops, wherever it is; a single call into C (one numpy or torch operation)
finishes first, which is why the generators and scorers work in bounded chunks."""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from django.conf import settings
from django.db import connection
from django.utils import timezone

from jobs.context import JobCancelled, JobContext, JobLost, JobStop
from jobs.models import Job

logger = logging.getLogger(__name__)

POLL_S = 1.0  # how often a running job's cancellation (and ownership) is read
GRACE_S = 1.0  # how long the runner has to stop by itself before it is interrupted
FENCE_POLL_S = 0.25


class RunnerGuard:
    """Raises an exception in one thread (the runner's) from another, until disarmed. Disarming
    also withdraws an exception raised but not yet delivered, so nothing lands in the code that
    stores the job's end."""

    def __init__(self) -> None:
        self.thread_id = threading.get_ident()
        self._lock = threading.Lock()
        self._armed = True
        self.interrupted = False  # an exception was raised asynchronously at least once

    def interrupt(self, exc_type: type[JobStop]) -> bool:
        with self._lock:
            if not self._armed:
                return False
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), ctypes.py_object(exc_type))
            self.interrupted = True
            return True

    def disarm(self) -> None:
        with self._lock:
            if self._armed and self.interrupted:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), None)
            self._armed = False


class Watchdog(threading.Thread):
    """Beats every JOBS_HEARTBEAT_S (the reaper takes a job whose beats stop for lost) and polls
    for a stop every POLL_S. A database error ends only that beat or poll, never the thread; a
    job is taken for lost only when its beats really stop (its process died, or its beats have
    not reached the database for half of JOBS_STALE_AFTER_S, and then it has stopped itself)."""

    def __init__(self, ctx: JobContext, guard: RunnerGuard) -> None:
        super().__init__(daemon=True, name=f"job-{ctx.job_id}-watchdog")
        self.ctx, self.guard = ctx, guard
        self.job_id, self.me = ctx.job_id, ctx.worker
        self.stopped = threading.Event()
        self._stop_seen_at: float | None = None
        self.last_beat = time.monotonic()  # of the last beat that reached the database

    def run(self) -> None:
        next_beat = time.monotonic() + settings.JOBS_HEARTBEAT_S
        self.last_beat = time.monotonic()
        fence = threading.Thread(target=self._fence, daemon=True, name=f"job-{self.job_id}-fence")
        fence.start()
        try:
            while not self.stopped.wait(min(POLL_S, settings.JOBS_HEARTBEAT_S)):
                if time.monotonic() >= next_beat:
                    self.beat()
                    next_beat = time.monotonic() + settings.JOBS_HEARTBEAT_S
                self.poll()
        finally:
            connection.close()
            fence.join(1)

    def _fence(self) -> None:
        """A thread that never touches the database (a beat can hang on it for DATABASE_POOL_TIMEOUT):
        with no beat for half the time after which a reaper takes the job for lost, the runner is
        stopped as if the job were gone (it may be, any moment now), so that it has stopped
        before another worker can start the job again: a job never runs twice at once. (Hence
        JOBS_STALE_AFTER_S must be well above twice DATABASE_POOL_TIMEOUT + JOBS_HEARTBEAT_S.)"""
        while not self.stopped.wait(FENCE_POLL_S):
            silent = time.monotonic() - self.last_beat
            if silent <= settings.JOBS_STALE_AFTER_S / 2:
                continue
            if self.ctx.stop_reason is None:
                logger.warning("job %s: no heartbeat for %.0f s; stopping before it is taken for lost",
                               self.job_id, silent)
                self.ctx.stop_reason = JobLost
            if self.guard.interrupt(JobLost):
                self.stopped.wait(POLL_S)  # again each second while the runner runs

    def beat(self) -> bool:
        try:
            Job.objects.filter(pk=self.job_id, status=Job.Status.RUNNING, worker=self.me).update(
                heartbeat_at=timezone.now())
            self.last_beat = time.monotonic()
            return True
        except Exception as exc:
            logger.warning("heartbeat of job %s failed (%s); the next beat retries", self.job_id, exc)
            connection.close()  # a broken connection is not reused by the next beat
            return False

    def poll(self) -> None:
        if self.ctx.stop_reason is None:
            try:
                row = Job.objects.filter(pk=self.job_id).values_list("status", "worker", "cancel_requested").first()
            except Exception as exc:
                logger.warning("job %s: reading its state failed (%s); the next poll retries", self.job_id, exc)
                connection.close()
                return
            if row is None:
                # Not visible from here (deleted, or in a test's uncommitted transaction): the
                # runner's next report, on its own connection, finds out.
                return
            if row[0] != Job.Status.RUNNING or row[1] != self.me:
                self.ctx.stop_reason = JobLost
            elif row[2]:
                self.ctx.stop_reason = JobCancelled
            else:
                return
            self._stop_seen_at = time.monotonic()
        if self._stop_seen_at is not None and time.monotonic() - self._stop_seen_at >= GRACE_S:
            # Again at every poll until the runner is gone: code that catches every exception
            # (a library's retry loop) may swallow one.
            if self.guard.interrupt(self.ctx.stop_reason):
                logger.info("job %s: interrupting its runner (%s)", self.job_id, self.ctx.stop_reason.__name__)

    def stop(self) -> None:
        self.stopped.set()
        self.join(5)

