"""Celery tasks: thin (DESIGN §7). One task runs any job; the kind's queue routes it.

acks_late + reject_on_worker_lost (settings) put a job's message back when its worker process
dies; ``job_execute`` is idempotent, and the reaper thread started here re-queues or fails jobs
whose worker vanished altogether (its heartbeat stopped)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_process_init, worker_ready
from django.conf import settings

from episodes.errors import connection_failed
from jobs import limits, services

logger = logging.getLogger(__name__)
# The database away while a job is claimed (or its end written): the message is sent again this
# much later, for as long as it takes, instead of being acked with the job left "queued" forever.
# A job that was claimed meanwhile is not run twice: the claim is conditional, and one whose
# worker stopped beating is the reaper's.
DATABASE_RETRY_S = 5


@shared_task(bind=True, name=services.EXECUTE_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def job_execute_task(self: Any, job_id: int) -> None:
    try:
        services.job_execute(job_id=job_id)
    except services.JobDeferred as why:
        # Over its owner's running quota: the job stays queued and this worker takes other work.
        logger.info("job %s deferred (%s); its message comes back in %s s", job_id, why, settings.JOBS_DEFER_S)
        services.job_redispatched(job_id)
        raise self.retry(countdown=settings.JOBS_DEFER_S, max_retries=None) from None
    except Exception as exc:
        if not connection_failed(exc):
            raise
        logger.warning("job %s: the database failed (%s); its message is sent again in %s s", job_id, exc,
                       DATABASE_RETRY_S)
        raise self.retry(exc=exc, countdown=DATABASE_RETRY_S, max_retries=None) from None


@worker_process_init.connect
def _in_a_pool_process(**_kwargs: object) -> None:
    limits.mark_worker_process()  # jobs here run under the memory ceiling


@worker_ready.connect
def _start_reaper(**_kwargs: object) -> None:
    services.Reaper().start()
