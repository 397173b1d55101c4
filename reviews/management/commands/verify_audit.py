"""``manage.py verify_audit``: walk the audit hash chain; exit 1 naming the first bad record."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from reviews.audit import audit_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain (detects edited and deleted records)."

    def handle(self, *args, **options) -> None:
        verdict = audit_verify()
        if not verdict.ok:
            raise CommandError(f"audit chain broken at {verdict.reason} ({verdict.count} records verified before it)")
        self.stdout.write(f"{verdict.count} records verified")
