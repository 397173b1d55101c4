"""``manage.py reap_jobs``: re-queue (or fail) running jobs whose worker stopped sending heartbeats,
and send queued jobs whose message never reached the broker."""

from django.core.management.base import BaseCommand

from jobs.services import job_dispatch_unsent, job_reap_stale


class Command(BaseCommand):
    help = ("Re-queue or fail running jobs whose worker is gone (no heartbeat for JOBS_STALE_AFTER_S), and send "
            "queued jobs whose message never went out.")

    def handle(self, *args, **options) -> None:
        reaped = job_reap_stale()
        self.stdout.write(f"{len(reaped)} job(s) reaped" + (f": {', '.join(map(str, reaped))}" if reaped else ""))
        sent = job_dispatch_unsent()
        if sent:
            self.stdout.write(f"{len(sent)} unsent job(s) sent: {', '.join(map(str, sent))}")
