"""``manage.py verify_audit``: walk the audit chain and check it against the checkpoint log;
exit 1 naming the first record or checkpoint that does not fit."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from reviews.audit import audit_verify
from reviews.audit_anchor import log_path


class Command(BaseCommand):
    help = ("Verify the audit trail: its keyed hash chain (edited, forged, deleted, inserted or reordered "
            "records) and the signed checkpoints outside the database (truncation, rollback, rebuilt chain).")

    def handle(self, *args, **options) -> None:
        verdict = audit_verify()
        if not verdict.ok:
            raise CommandError(f"audit chain broken at {verdict.reason} ({verdict.count} records verified before it)")
        self.stdout.write(f"{verdict.count} records verified")
        if verdict.checkpoints:
            self.stdout.write(f"the chain extends all {verdict.checkpoints} checkpoints in {log_path()}")
        else:
            self.stdout.write(f"no checkpoints yet in {log_path()} (manage.py audit_checkpoint writes one)")
        if verdict.unkeyed:
            self.stdout.write(
                f"{verdict.unkeyed} records predate the keyed chain (plain SHA-256): only the checkpoints protect them"
            )
