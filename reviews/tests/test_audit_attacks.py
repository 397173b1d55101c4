"""The audit trail against someone with full SQL access (DDL included) but not the audit key,
nor write access to the checkpoint log outside the database: every rewrite is caught and named.

Runs on the suite's database: SQLite by default, PostgreSQL in CI (and on SQLite again in CI's
review stage), so each attack is tried on both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from reviews.audit import RequestMeta, audit_append, audit_verify
from reviews.audit_anchor import audit_checkpoint, checkpoints_read, log_path
from reviews.audit_chain import UNKEYED, canonical_json, keyring, record_body, record_hash
from reviews.models import GENESIS_HASH, AuditHead, AuditRecord
from reviews.tests.conftest import attacker

pytestmark = pytest.mark.django_db

META = RequestMeta(user=AnonymousUser(), ip="192.0.2.7", user_agent="pytest")
WRONG_KEY = b"the attacker's guess at the key"


def append(n: int, start: int = 0) -> list[AuditRecord]:
    return [audit_append(meta=META, action=AuditRecord.Action.SESSION_VIEWED, payload={"n": i}) for i in range(start, start + n)]


@pytest.fixture
def chain() -> list[AuditRecord]:
    """Twelve records, anchored after the fourth and the eighth."""
    records = append(4)
    audit_checkpoint()
    records += append(4, 4)
    audit_checkpoint()
    return records + append(4, 8)


def verify_output() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def assert_caught(match: str) -> None:
    with pytest.raises(CommandError, match=match):
        verify_output()


def fields_of(pk: int) -> dict:
    record = AuditRecord.objects.get(pk=pk)
    return {"created_at": record.created_at, "actor_id": record.actor_id, "actor_label": record.actor_label,
            "action": record.action, "session_id": record.session_id, "ip": record.ip,
            "user_agent": record.user_agent, "payload": record.payload}


def insert_raw(cursor, *, prev_hash: str, digest: str, key_id: str, payload: dict, created_at=None) -> int:
    now = created_at or timezone.now()
    cursor.execute(
        "INSERT INTO reviews_auditrecord (actor_label, action, created_at, ip, user_agent, payload, prev_hash, hash, key_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        ["mallory", "session.viewed", now, "", "", json.dumps(payload), prev_hash, digest, key_id],
    )
    return AuditRecord.objects.order_by("-pk").values_list("pk", flat=True).first()


def set_head(cursor, *, last_id: int, last_hash: str, count: int) -> None:
    cursor.execute("UPDATE reviews_audithead SET last_id = %s, last_hash = %s, count = %s WHERE id = 1",
                   [last_id, last_hash, count])


# ── an untouched chain ─────────────────────────────────────────────────────
def test_an_untouched_chain_verifies_against_its_checkpoints(chain):
    out = verify_output()
    assert "12 records verified" in out and "extends all 2 checkpoints" in out


def test_records_are_keyed_hmacs_not_plain_hashes(chain):
    record = chain[5]
    assert record.key_id == keyring().current_id
    body = record_body(**fields_of(record.pk), key_id=record.key_id)
    assert record.hash != hashlib.sha256((record.prev_hash + body).encode()).hexdigest()
    assert record.hash == hmac.new(keyring().current, (record.prev_hash + body).encode(), hashlib.sha256).hexdigest()


def test_ten_thousand_records_verify(settings):
    """Built in bulk with the site's own hashing (appending one by one would take the test a minute);
    bench/audit_verify.py times the verifier."""
    ring, prev, now = keyring(), GENESIS_HASH, timezone.now()
    rows = []
    for i in range(10_000):
        fields = {"created_at": now + timedelta(microseconds=i), "actor_id": None, "actor_label": "bulk",
                  "action": "session.viewed", "session_id": None, "ip": "", "user_agent": "", "payload": {"i": i},
                  "key_id": ring.current_id}
        digest = record_hash(prev_hash=prev, key=ring.current, **fields)
        rows.append(AuditRecord(prev_hash=prev, hash=digest, **fields))
        prev = digest
    AuditRecord.objects.bulk_create(rows, batch_size=1000)
    last = AuditRecord.objects.order_by("-pk").first()
    AuditHead.objects.get_or_create(pk=1)
    AuditHead.objects.filter(pk=1).update(last_id=last.pk, last_hash=last.hash, count=10_000)
    audit_checkpoint()
    verdict = audit_verify()
    assert verdict.ok and verdict.count == 10_000 and verdict.checkpoints == 1


# ── forged, edited, deleted, reordered ─────────────────────────────────────
@pytest.mark.parametrize("scheme", ["plain-sha256", "wrong-key-hmac", "unkeyed"])
def test_a_forged_record_with_a_recomputed_hash_is_named(chain, scheme):
    head = AuditHead.objects.get(pk=1)
    key_id = UNKEYED if scheme == "unkeyed" else keyring().current_id
    created = timezone.now()
    fields = {"created_at": created, "actor_id": None, "actor_label": "mallory", "action": "session.viewed",
              "session_id": None, "ip": "", "user_agent": "", "payload": {"forged": True}, "key_id": key_id}
    key = WRONG_KEY if scheme == "wrong-key-hmac" else None
    digest = record_hash(prev_hash=head.last_hash, key=key, **fields)
    with attacker() as cursor:
        pk = insert_raw(cursor, prev_hash=head.last_hash, digest=digest, key_id=key_id, payload={"forged": True},
                        created_at=created)
        set_head(cursor, last_id=pk, last_hash=digest, count=head.count + 1)
    assert_caught(rf"record {pk}: ")


def test_an_edited_record_rechained_to_the_end_is_named(chain):
    target = chain[6]
    with attacker() as cursor:
        prev = target.prev_hash
        for record in chain[6:]:
            fields = fields_of(record.pk)
            if record.pk == target.pk:
                fields["payload"] = {"n": "rewritten"}
            digest = record_hash(prev_hash=prev, key=WRONG_KEY, key_id=record.key_id, **fields)
            cursor.execute("UPDATE reviews_auditrecord SET payload = %s, prev_hash = %s, hash = %s WHERE id = %s",
                           [json.dumps(fields["payload"]), prev, digest, record.pk])
            prev = digest
        set_head(cursor, last_id=chain[-1].pk, last_hash=prev, count=len(chain))
    assert_caught(rf"record {target.pk}: hash mismatch")


def test_a_deleted_record_is_named_by_the_one_after_it(chain):
    with attacker() as cursor:
        cursor.execute("DELETE FROM reviews_auditrecord WHERE id = %s", [chain[9].pk])
    assert_caught(rf"record {chain[10].pk}: prev_hash does not match the hash of record {chain[8].pk}")


def test_reordered_records_are_named(chain):
    a, b = chain[2], chain[3]
    columns = ["created_at", "actor_label", "action", "ip", "user_agent", "payload", "prev_hash", "hash", "key_id"]
    row = {r["id"]: r for r in AuditRecord.objects.filter(pk__in=[a.pk, b.pk]).values("id", *columns)}
    sets = ", ".join(f"{c} = %s" for c in columns)
    with attacker() as cursor:
        cursor.execute("UPDATE reviews_auditrecord SET hash = 'moving' WHERE id = %s", [a.pk])
        for target, source in ((b.pk, a.pk), (a.pk, b.pk)):
            values = [json.dumps(v) if c == "payload" else v for c, v in ((c, row[source][c]) for c in columns)]
            if target == b.pk:
                cursor.execute("UPDATE reviews_auditrecord SET hash = 'moving-too' WHERE id = %s", [b.pk])
            cursor.execute(f"UPDATE reviews_auditrecord SET {sets} WHERE id = %s", [*values, target])
    # b's record now comes first: its prev_hash names a's hash, not the record before.
    assert_caught(rf"record {a.pk}: prev_hash does not match the hash of record {chain[1].pk}")


# ── cut back: tail deleted, truncated, head rolled back ────────────────────
def test_a_deleted_tail_with_the_head_moved_back_is_caught_by_a_checkpoint(chain):
    audit_checkpoint()  # the newest records are anchored too
    keep = chain[7]
    with attacker() as cursor:
        cursor.execute("DELETE FROM reviews_auditrecord WHERE id > %s", [keep.pk])
        set_head(cursor, last_id=keep.pk, last_hash=keep.hash, count=8)
    assert_caught(r"checkpoint of .* \(log line 3\): it names 12 records .* the chain now has 8")


def test_a_truncated_trail_with_a_reset_head_is_caught(chain):
    with attacker() as cursor:
        cursor.execute("DELETE FROM reviews_auditrecord")
        set_head(cursor, last_id=0, last_hash=GENESIS_HASH, count=0)
    assert_caught(r"checkpoint of .* \(log line 1\): it names 4 records .* the chain now has 0")


def test_a_database_restored_from_an_older_copy_then_written_again_is_caught(chain):
    """The rollback the head alone cannot see: cut back to record 4, then new records written on top."""
    keep = chain[3]
    with attacker() as cursor:
        cursor.execute("DELETE FROM reviews_auditrecord WHERE id > %s", [keep.pk])
        set_head(cursor, last_id=keep.pk, last_hash=keep.hash, count=4)
    append(8, 100)
    assert_caught(r"checkpoint of .* \(log line 2\): the chain no longer extends it")


# ── without DDL rights the database itself refuses ─────────────────────────
def test_the_head_only_moves_forward_and_is_never_deleted(chain):
    head = AuditHead.objects.get(pk=1)
    changes: tuple[tuple[str, list[Any]], ...] = (
        ("UPDATE reviews_audithead SET last_id = %s, last_hash = %s, count = %s WHERE id = 1",
         [chain[3].pk, chain[3].hash, 4]),  # rolled back
        ("UPDATE reviews_audithead SET last_id = %s, last_hash = %s, count = %s WHERE id = 1",
         [head.last_id + 1, "f" * 64, head.count + 1]),  # to a record that does not exist
        ("DELETE FROM reviews_audithead", []),
    )
    for sql, params in changes:
        with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    assert AuditHead.objects.get(pk=1).count == head.count and audit_verify().ok


def test_truncate_and_delete_all_are_refused(chain):
    statements = ["DELETE FROM reviews_auditrecord"]
    if connection.vendor == "postgresql":
        statements += ["TRUNCATE reviews_auditrecord CASCADE", "TRUNCATE reviews_audithead"]
    for sql in statements:
        with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AuditRecord.objects.count() == 12 and audit_verify().ok


# ── the checkpoint log and the keys ────────────────────────────────────────
def test_a_forged_checkpoint_line_is_named(chain):
    line = {"v": 1, "count": 99, "last_id": 99, "last_hash": "0" * 64, "at": "2026-01-01T00:00:00+00:00",
            "key_id": keyring().current_id}
    line["sig"] = hmac.new(WRONG_KEY, canonical_json(line).encode(), hashlib.sha256).hexdigest()
    with log_path().open("a") as handle:
        handle.write(json.dumps(line) + "\n")
    assert_caught(r"checkpoint log line 3: signature does not verify")


def test_a_rotated_key_keeps_old_records_and_checkpoints_verifiable(chain, settings):
    old = settings.AUDIT_KEY
    settings.AUDIT_KEY, settings.AUDIT_OLD_KEYS = "a new audit key, rotated in " * 2, [old]
    append(3, 50)
    audit_checkpoint()
    records = list(AuditRecord.objects.order_by("pk"))
    assert len({r.key_id for r in records}) == 2
    assert "15 records verified" in verify_output()
    settings.AUDIT_OLD_KEYS = []  # the old key lost: its records can no longer be vouched for
    assert_caught(r"checkpoint log line 1: signed with key .* not configured")


def test_records_from_before_the_keyed_chain_are_accepted_only_as_its_prefix():
    """A deployment that upgrades keeps its plain-SHA-256 records; none may follow a keyed one."""
    AuditHead.objects.get_or_create(pk=1)
    prev, now = GENESIS_HASH, timezone.now()
    for i in range(3):  # how the records of the release before the keyed chain look
        fields = {"created_at": now + timedelta(seconds=i), "actor_id": None, "actor_label": "earlier",
                  "action": "session.viewed", "session_id": None, "ip": "", "user_agent": "", "payload": {"old": i},
                  "key_id": UNKEYED}
        digest = record_hash(prev_hash=prev, key=None, **fields)
        last = AuditRecord.objects.create(prev_hash=prev, hash=digest, **fields)
        prev = digest
    AuditHead.objects.filter(pk=1).update(last_id=last.pk, last_hash=prev, count=3)
    append(2)
    out = verify_output()
    assert "5 records verified" in out and "3 records predate the keyed chain" in out


# ── checkpoints are written as the trail grows ─────────────────────────────
def test_checkpoints_follow_the_trail_after_each_commit(settings, django_capture_on_commit_callbacks):
    settings.AUDIT_CHECKPOINT_EVERY = 5
    for i in range(12):
        with django_capture_on_commit_callbacks(execute=True):
            append(1, i)
    counts = [c.count for c in checkpoints_read()]
    assert counts == [1, 6, 11], counts  # the first append of a process anchors at once
    assert call_command("audit_checkpoint", stdout=StringIO()) is None
    assert [c.count for c in checkpoints_read()][-1] == 12


# ── flush: the test runner's may empty the trail, nobody else's ─────────────
@pytest.mark.django_db(transaction=True)
def test_flush_outside_the_test_runner_is_refused_by_the_database(settings):
    append(3)
    settings.AUDIT_FLUSH_SUSPENDS_TRIGGERS = False
    with pytest.raises(CommandError, match="couldn't be flushed") as refused:
        call_command("flush", interactive=False, verbosity=0)
    assert re.search("append-only|refused", str(refused.value.__cause__))
    assert AuditRecord.objects.count() == 3
    settings.AUDIT_FLUSH_SUSPENDS_TRIGGERS = True  # the teardown's flush empties it


@pytest.mark.django_db(transaction=True)
def test_the_test_runners_flush_empties_the_trail_and_keeps_its_triggers():
    append(2)
    call_command("flush", interactive=False, verbosity=0)
    # No record; the head is back at the genesis, as migrate leaves it.
    assert not AuditRecord.objects.exists() and AuditHead.objects.get().count == 0
    append(1)  # a new chain starts, and its records are protected again
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        AuditRecord.objects.update(actor_label="x")
    # The first append was checkpointed as it committed: the log outside the database still
    # remembers the emptied chain (each test has its own log, so no other test sees this one's).
    verdict = audit_verify()
    assert not verdict.ok and "the chain no longer extends it" in verdict.reason
