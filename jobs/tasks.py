"""Celery tasks: thin (DESIGN §7). One task runs any job; the kind's queue routes it.

acks_late + reject_on_worker_lost (settings) put a job's message back when its worker process
dies; ``job_execute`` is idempotent, and the reaper thread started here re-queues or fails jobs
whose worker vanished altogether (its heartbeat stopped)."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready

from jobs import services


@shared_task(name="jobs.execute", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def job_execute_task(job_id: int) -> None:
    services.job_execute(job_id=job_id)


@worker_ready.connect
def _start_reaper(**_kwargs: object) -> None:
    services.Reaper().start()
