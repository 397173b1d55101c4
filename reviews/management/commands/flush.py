"""``manage.py flush``, which the test runner also calls between transactional tests.

The audit tables refuse DELETE and TRUNCATE (migrations 0002 and 0004), so a plain flush fails
once a test has written a record. Under the test runner (``AUDIT_FLUSH_SUSPENDS_TRIGGERS``,
set by the project's conftest, never from the environment) this flush suspends the audit
triggers for the flush only; anywhere else it is Django's flush, and the database refuses it
while the audit trail holds records.

A flush empties every table, the rows the data migrations made included: the role groups
(reviews 0002, catalog 0002 with the curator's permissions) and the audit chain's head. They
are put back afterwards, as Django's own post-migrate handlers put back content types and
permissions, so the site (and a test that runs after a transactional one, in whatever order
pytest-xdist hands out the files) finds the database as ``migrate`` left it.
"""

from __future__ import annotations

from contextlib import contextmanager
from importlib import import_module
from typing import Any, Iterator

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management.commands import flush
from django.db import connections

from accounts.roles import CURATOR, ROLES
from reviews.models import AuditHead

# What the curator group may do, as its migration grants it (a module name no import statement
# can spell).
CURATOR_ACTIONS: dict[str, tuple[str, ...]] = import_module("catalog.migrations.0002_curator_group").ACTIONS

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


def migration_rows_restore(database: str) -> None:
    """The rows the data migrations made, back as ``migrate`` left them (idempotent)."""
    for name in ROLES:
        Group.objects.using(database).get_or_create(name=name)
    codenames = [f"{action}_{model}" for model, actions in CURATOR_ACTIONS.items() for action in actions]
    curator = Group.objects.using(database).get(name=CURATOR)
    curator.permissions.add(*Permission.objects.using(database).filter(content_type__app_label="catalog",
                                                                        codename__in=codenames))
    AuditHead.objects.using(database).get_or_create(pk=1)


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        if not getattr(settings, "AUDIT_FLUSH_SUSPENDS_TRIGGERS", False):
            super().handle(**options)
        else:
            with audit_triggers_suspended(connections[options["database"]]):
                super().handle(**options)
        migration_rows_restore(options["database"])
