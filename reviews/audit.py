"""The audit trail: append-only records in one keyed hash chain, anchored outside the database
(DESIGN §6).

Each record's hash is an HMAC over the previous hash and its own fields (``reviews.audit_chain``)
with a key the database does not hold. Appends lock the chain's head row, so they serialize and
the chain cannot fork; after the transaction commits, the head is checkpointed to a signed log
outside the database when due (``reviews.audit_anchor``). ``audit_verify`` walks the chain in
id order, checks that it extends every checkpoint, and names the first record or checkpoint that
does not fit.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reviews.audit_anchor import CheckpointLogError, audit_checkpoint_if_due, checkpoints_read
from reviews.audit_chain import UNKEYED, canonical_json, keyring, record_hash
from reviews.models import GENESIS_HASH, AuditHead, AuditRecord

MAX_USER_AGENT = 400


@dataclass(frozen=True)
class RequestMeta:
    """Where an action came from: the acting user, their IP address and browser."""

    user: Any
    ip: str = ""
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: Any) -> "RequestMeta":
        # REMOTE_ADDR only: X-Forwarded-For is whatever the client says unless a trusted proxy
        # sets it, and an audit trail must not record what the client claims.
        ip = request.META.get("REMOTE_ADDR", "") or ""
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            ip = ""
        return cls(user=request.user, ip=ip, user_agent=(request.META.get("HTTP_USER_AGENT", "") or "")[:MAX_USER_AGENT])


def audit_append(*, meta: RequestMeta, action: str, session: Any = None, payload: dict[str, Any] | None = None) -> AuditRecord:
    """Append one record to the chain (in the caller's transaction, if any)."""
    user = meta.user
    actor_id = user.pk if getattr(user, "is_authenticated", False) else None
    actor_label = user.get_username() if actor_id is not None else "anonymous"
    # Stored as the JSON it was hashed as, so what the database hands back hashes the same.
    payload = json.loads(canonical_json(payload or {}))
    ring = keyring()
    with transaction.atomic():
        head = AuditHead.objects.select_for_update().filter(pk=1).first()
        if head is None:  # migration 0002 creates it; a flushed test database may lack it
            head = AuditHead.objects.create(pk=1)
        fields = {
            "created_at": timezone.now(),
            "actor_id": actor_id,
            "actor_label": actor_label,
            "action": action,
            "session_id": session.pk if session is not None else None,
            "ip": meta.ip,
            "user_agent": meta.user_agent[:MAX_USER_AGENT],
            "payload": payload,
            "key_id": ring.current_id,
        }
        digest = record_hash(prev_hash=head.last_hash, key=ring.current, **fields)
        record = AuditRecord.objects.create(prev_hash=head.last_hash, hash=digest, **fields)
        AuditHead.objects.filter(pk=1).update(last_id=record.pk, last_hash=digest, count=F("count") + 1)
        count = head.count + 1
        # After the commit: a checkpoint must only ever name records that exist.
        transaction.on_commit(lambda: audit_checkpoint_if_due(count))
    return record


@dataclass(frozen=True)
class AuditVerdict:
    ok: bool
    count: int
    bad_record_id: int | None = None
    reason: str = ""
    checkpoints: int = 0
    unkeyed: int = 0  # records from before the chain was keyed (plain SHA-256)


_COLUMNS = ("pk", "created_at", "actor_id", "actor_label", "action", "session_id", "ip", "user_agent", "payload",
            "key_id", "prev_hash", "hash")


def audit_verify() -> AuditVerdict:
    """Walk the whole chain and the checkpoint log; the first record or checkpoint that does not
    fit is named. A checkpoint the chain does not extend means records were edited, deleted,
    inserted or reordered before it, or the chain was cut back (truncated, or restored from an
    older copy)."""
    try:
        checkpoints = sorted(checkpoints_read(), key=lambda c: (c.count, c.line))
    except CheckpointLogError as exc:
        return AuditVerdict(False, 0, None, str(exc))
    keys = keyring().keys
    pending = list(reversed(checkpoints))  # pop() gives the lowest count first
    expected_prev, count, unkeyed, previous_id = GENESIS_HASH, 0, 0, None
    rows = AuditRecord.objects.order_by("pk").values_list(*_COLUMNS)
    for pk, created_at, actor_id, actor_label, action, session_id, ip, agent, payload, key_id, prev_hash, stored in rows.iterator(chunk_size=2000):
        if prev_hash != expected_prev:
            after = f"record {previous_id}" if previous_id is not None else "the start of the chain"
            return AuditVerdict(False, count, pk, (
                f"record {pk}: prev_hash does not match the hash of {after} "
                "(a record between them was deleted, inserted or moved, or one was rewritten)"
            ))
        if key_id == UNKEYED:
            if unkeyed != count:
                return AuditVerdict(False, count, pk, (
                    f"record {pk}: unkeyed (plain SHA-256) after keyed records: it was not written by this site"
                ))
            unkeyed += 1
            key = None
        else:
            key = keys.get(key_id)
            if key is None:
                return AuditVerdict(False, count, pk, (
                    f"record {pk}: made with key {key_id!r}, which is not configured (AUDIT_KEY, AUDIT_OLD_KEYS)"
                ))
        digest = record_hash(
            prev_hash=prev_hash, key=key, created_at=created_at, actor_id=actor_id, actor_label=actor_label,
            action=action, session_id=session_id, ip=ip, user_agent=agent, payload=payload, key_id=key_id,
        )
        if digest != stored:
            return AuditVerdict(False, count, pk, f"record {pk}: hash mismatch (its content was edited, or it was forged)")
        expected_prev, previous_id = stored, pk
        count += 1
        while pending and pending[-1].count == count:
            mark = pending.pop()
            if (mark.last_id, mark.last_hash) != (pk, stored):
                return AuditVerdict(False, count, pk, (
                    f"checkpoint of {mark.at} (log line {mark.line}): the chain no longer extends it; its record "
                    f"{mark.count} was id {mark.last_id} and is now id {pk} with another hash (records up to it "
                    "were edited, deleted, inserted or reordered, and the chain rebuilt)"
                ))
    if pending:
        mark = pending[-1]  # the first checkpoint the chain falls short of
        return AuditVerdict(False, count, mark.last_id, (
            f"checkpoint of {mark.at} (log line {mark.line}): it names {mark.count} records ending at record "
            f"{mark.last_id}, and the chain now has {count}: records were deleted or the database was rolled back"
        ))
    head = AuditHead.objects.filter(pk=1).values("last_id", "last_hash", "count").first()
    if head is None and count:
        return AuditVerdict(False, count, None, "the chain's head row is missing")
    if head is not None and (head["last_hash"] != expected_prev or head["count"] != count):
        return AuditVerdict(False, count, head["last_id"], (
            f"record {head['last_id']}: the newest record is missing (the chain ends at "
            f"{'record ' + str(previous_id) if previous_id else 'its start'} after {count} of {head['count']} records)"
        ))
    return AuditVerdict(True, count, checkpoints=len(checkpoints), unkeyed=unkeyed)
