"""manage.py prepare_database: migrate and load the catalogs not loaded yet, safe with several
replicas starting at once (catalog.startup). The image's entrypoint runs it."""

from typing import Any

from django.core.management.base import BaseCommand

from catalog.startup import database_prepare


class Command(BaseCommand):
    help = "Migrate, then load each shipped catalog the database does not hold yet (under a lock replicas share)."
    # The system checks import every view (torch among them: seconds of every cold start); the
    # server that starts next runs them anyway.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        database_prepare(report=self.stdout.write)
