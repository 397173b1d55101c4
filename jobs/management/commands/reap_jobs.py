"""``manage.py reap_jobs``: re-queue (or fail) running jobs whose worker stopped sending heartbeats."""

from django.core.management.base import BaseCommand

from jobs.services import job_reap_stale


class Command(BaseCommand):
    help = "Re-queue or fail running jobs whose worker is gone (no heartbeat for JOBS_STALE_AFTER_S)."

    def handle(self, *args, **options) -> None:
        reaped = job_reap_stale()
        self.stdout.write(f"{len(reaped)} job(s) reaped" + (f": {', '.join(map(str, reaped))}" if reaped else ""))
