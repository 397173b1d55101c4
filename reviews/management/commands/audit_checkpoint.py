"""``manage.py audit_checkpoint``: sign the audit chain's head and append it to the checkpoint
log outside the database (reviews.audit_anchor). Run it from cron, or before a backup."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from reviews.audit_anchor import audit_checkpoint, log_path


class Command(BaseCommand):
    help = "Append a signed checkpoint of the audit chain's head to the log outside the database."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="write one even when the log already has this head")

    def handle(self, *args, **options) -> None:
        mark = audit_checkpoint(force=options["force"])
        if mark is None:
            self.stdout.write(f"nothing to add: {log_path()} already has the head (or the chain is empty)")
        else:
            self.stdout.write(f"checkpoint: {mark.count} records, last {mark.last_id} {mark.last_hash[:16]}… → {log_path()}")
