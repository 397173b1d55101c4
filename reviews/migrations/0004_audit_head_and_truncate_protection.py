"""The audit chain's head row protected like its records, and TRUNCATE refused.

The head (``reviews_audithead``, one row) only moves forward: an UPDATE must raise the count and
the last id and name a stored record by its id and hash; DELETE is refused, and a new head row
may only be the empty chain's. On PostgreSQL, TRUNCATE of the records or the head is refused
(row triggers do not see it). SQLite has no TRUNCATE: its DELETE without WHERE runs the row
triggers because the table has triggers.

The test runner's flush between transactional tests suspends these triggers for the flush only
(``reviews/management/commands/flush.py``); nothing else can, short of DDL rights, and what DDL
rights can do the keyed chain and the checkpoint log catch.
"""

import importlib

from django.db import migrations

# Its statement runner (plpgsql's % is no placeholder), as migration 0003 uses it too.
_protection = importlib.import_module("reviews.migrations.0002_roles_audit_protection")

PG_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION reviews_audit_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: TRUNCATE refused', TG_TABLE_NAME;
    END $$
    """,
    """
    CREATE TRIGGER reviews_audit_no_truncate BEFORE TRUNCATE ON reviews_auditrecord
    FOR EACH STATEMENT EXECUTE FUNCTION reviews_audit_no_truncate()
    """,
    """
    CREATE TRIGGER reviews_audithead_no_truncate BEFORE TRUNCATE ON reviews_audithead
    FOR EACH STATEMENT EXECUTE FUNCTION reviews_audit_no_truncate()
    """,
    """
    CREATE OR REPLACE FUNCTION reviews_audithead_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'reviews_audithead: DELETE refused';
        END IF;
        IF TG_OP = 'INSERT' THEN
            IF NEW.count <> 0 OR NEW.last_id <> 0 OR EXISTS (SELECT 1 FROM reviews_auditrecord) THEN
                RAISE EXCEPTION 'reviews_audithead: a new head can only start an empty chain';
            END IF;
            RETURN NEW;
        END IF;
        IF NEW.id <> OLD.id OR NEW.count <= OLD.count OR NEW.last_id <= OLD.last_id
           OR NOT EXISTS (SELECT 1 FROM reviews_auditrecord WHERE id = NEW.last_id AND hash = NEW.last_hash) THEN
            RAISE EXCEPTION 'reviews_audithead only moves forward, to a stored record: UPDATE refused';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER reviews_audithead_forward_only BEFORE INSERT OR UPDATE OR DELETE ON reviews_audithead
    FOR EACH ROW EXECUTE FUNCTION reviews_audithead_forward_only()
    """,
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS reviews_audithead_forward_only ON reviews_audithead",
    "DROP FUNCTION IF EXISTS reviews_audithead_forward_only()",
    "DROP TRIGGER IF EXISTS reviews_audithead_no_truncate ON reviews_audithead",
    "DROP TRIGGER IF EXISTS reviews_audit_no_truncate ON reviews_auditrecord",
    "DROP FUNCTION IF EXISTS reviews_audit_no_truncate()",
]
SQLITE_FORWARD = [
    """
    CREATE TRIGGER reviews_audithead_no_delete BEFORE DELETE ON reviews_audithead
    BEGIN SELECT RAISE(ABORT, 'reviews_audithead: DELETE refused'); END
    """,
    """
    CREATE TRIGGER reviews_audithead_new_only_empty BEFORE INSERT ON reviews_audithead
    WHEN NEW.count <> 0 OR NEW.last_id <> 0 OR EXISTS (SELECT 1 FROM reviews_auditrecord)
    BEGIN SELECT RAISE(ABORT, 'reviews_audithead: a new head can only start an empty chain'); END
    """,
    """
    CREATE TRIGGER reviews_audithead_forward_only BEFORE UPDATE ON reviews_audithead
    WHEN NEW.id <> OLD.id OR NEW.count <= OLD.count OR NEW.last_id <= OLD.last_id
         OR NOT EXISTS (SELECT 1 FROM reviews_auditrecord WHERE id = NEW.last_id AND hash = NEW.last_hash)
    BEGIN SELECT RAISE(ABORT, 'reviews_audithead only moves forward, to a stored record: UPDATE refused'); END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS reviews_audithead_no_delete",
    "DROP TRIGGER IF EXISTS reviews_audithead_new_only_empty",
    "DROP TRIGGER IF EXISTS reviews_audithead_forward_only",
]


# Other vendors (none supported today) get no triggers; the keyed chain still covers them.
FORWARD = {"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}
BACKWARD = {"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}


def protect(apps, schema_editor):
    _protection._run(schema_editor, FORWARD.get(schema_editor.connection.vendor, []))


def unprotect(apps, schema_editor):
    _protection._run(schema_editor, BACKWARD.get(schema_editor.connection.vendor, []))


class Migration(migrations.Migration):
    dependencies = [("reviews", "0003_audit_key_id")]

    operations = [migrations.RunPython(protect, unprotect)]
