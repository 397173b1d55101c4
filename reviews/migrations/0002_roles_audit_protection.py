"""Roles as groups, the audit chain's head row, and database triggers that make audit records
append-only and signed-off review sessions immutable.

The triggers stop the application (and anyone using SQL without DDL rights) from editing the
trail; someone who can drop a trigger can still edit it, which is what the hash chain and
``manage.py verify_audit`` are for. TRUNCATE is not blocked on PostgreSQL: the test runner
empties every table with it between transactional tests. A later migration that rebuilds these
tables on SQLite (ALTER TABLE by copy) drops the triggers and must create them again.
"""

from django.db import migrations

ROLES = ("pharmacist", "supervisor", "researcher", "curator")  # curator: from catalog 0002

PG_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION reviews_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'reviews_auditrecord is append-only: % refused', TG_OP;
    END $$
    """,
    """
    CREATE TRIGGER reviews_audit_append_only BEFORE UPDATE OR DELETE ON reviews_auditrecord
    FOR EACH ROW EXECUTE FUNCTION reviews_audit_append_only()
    """,
    """
    CREATE OR REPLACE FUNCTION reviews_session_signed_off_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.status IN ('approved', 'returned') THEN
            RAISE EXCEPTION 'review session % is signed off and immutable: % refused', OLD.id, TG_OP;
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER reviews_session_signed_off_immutable BEFORE UPDATE OR DELETE ON reviews_reviewsession
    FOR EACH ROW EXECUTE FUNCTION reviews_session_signed_off_immutable()
    """,
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS reviews_audit_append_only ON reviews_auditrecord",
    "DROP FUNCTION IF EXISTS reviews_audit_append_only()",
    "DROP TRIGGER IF EXISTS reviews_session_signed_off_immutable ON reviews_reviewsession",
    "DROP FUNCTION IF EXISTS reviews_session_signed_off_immutable()",
]
SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER reviews_audit_no_{op.lower()} BEFORE {op} ON reviews_auditrecord
    BEGIN SELECT RAISE(ABORT, 'reviews_auditrecord is append-only: {op} refused'); END
    """
    for op in ("UPDATE", "DELETE")
] + [
    f"""
    CREATE TRIGGER reviews_session_signed_off_no_{op.lower()} BEFORE {op} ON reviews_reviewsession
    WHEN OLD.status IN ('approved', 'returned')
    BEGIN SELECT RAISE(ABORT, 'review session is signed off and immutable: {op} refused'); END
    """
    for op in ("UPDATE", "DELETE")
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS reviews_audit_no_update",
    "DROP TRIGGER IF EXISTS reviews_audit_no_delete",
    "DROP TRIGGER IF EXISTS reviews_session_signed_off_no_update",
    "DROP TRIGGER IF EXISTS reviews_session_signed_off_no_delete",
]


def _run(schema_editor, statements):
    for sql in statements:
        schema_editor.execute(sql, params=None)  # None: plpgsql's % is not a placeholder


def protect(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, PG_FORWARD)
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE_FORWARD)


def unprotect(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, PG_BACKWARD)
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE_BACKWARD)


def create_roles_and_head(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)
    apps.get_model("reviews", "AuditHead").objects.get_or_create(pk=1)


def remove_roles_and_head(apps, schema_editor):
    # The curator group belongs to the catalog app's migration; leave it.
    apps.get_model("auth", "Group").objects.filter(name__in=("pharmacist", "supervisor", "researcher")).delete()
    apps.get_model("reviews", "AuditHead").objects.filter(pk=1).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0001_initial"),
        ("catalog", "0002_curator_group"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_roles_and_head, remove_roles_and_head),
        migrations.RunPython(protect, unprotect),
    ]
