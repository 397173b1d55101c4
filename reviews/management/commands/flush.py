"""``manage.py flush``, which the test runner also calls between transactional tests.

The audit tables refuse DELETE and TRUNCATE (migrations 0002 and 0004), so a plain flush fails
once a test has written a record. Under the test runner (``AUDIT_FLUSH_SUSPENDS_TRIGGERS``,
set by the project's conftest, never from the environment) this flush suspends the audit
triggers for the flush only; anywhere else it is Django's flush, and the database refuses it
while the audit trail holds records.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from django.conf import settings
from django.core.management.commands import flush
from django.db import connections

PROTECTED_TABLES = ("reviews_auditrecord", "reviews_audithead", "reviews_reviewsession")


@contextmanager
def audit_triggers_suspended(connection: Any) -> Iterator[None]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in PROTECTED_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                for table in PROTECTED_TABLES:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    elif connection.vendor == "sqlite":
        # SQLite cannot disable a trigger: drop them and create them again from their own SQL.
        with connection.cursor() as cursor:
            marks = ", ".join("%s" for _ in PROTECTED_TABLES)
            cursor.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({marks})",
                           list(PROTECTED_TABLES))
            triggers = cursor.fetchall()
            for name, _sql in triggers:
                cursor.execute(f'DROP TRIGGER "{name}"')
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                for _name, sql in triggers:
                    cursor.execute(sql)
    else:
        yield


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        if not getattr(settings, "AUDIT_FLUSH_SUSPENDS_TRIGGERS", False):
            return super().handle(**options)
        with audit_triggers_suspended(connections[options["database"]]):
            return super().handle(**options)
