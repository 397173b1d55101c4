"""The audit trail: append-only records in one global hash chain (DESIGN §6).

``hash = sha256(prev_hash + canonical JSON of the record's fields)``. Appends lock the chain's
head row, so they serialize and the chain cannot fork; ``audit_verify`` walks the chain in id
order and names the first record that does not fit (edited: its hash is wrong; deleted: the
next record's prev_hash points elsewhere, or the head names a record that is gone).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

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


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(
    *, prev_hash: str, created_at: datetime, actor_id: int | None, actor_label: str, action: str,
    session_id: int | None, ip: str, user_agent: str, payload: Any,
) -> str:
    body = canonical_json({
        "created_at": created_at.isoformat(),
        "actor_id": actor_id,
        "actor_label": actor_label,
        "action": action,
        "session_id": session_id,
        "ip": ip,
        "user_agent": user_agent,
        "payload": payload,
    })
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def audit_append(*, meta: RequestMeta, action: str, session: Any = None, payload: dict[str, Any] | None = None) -> AuditRecord:
    """Append one record to the chain (in the caller's transaction, if any)."""
    user = meta.user
    actor_id = user.pk if getattr(user, "is_authenticated", False) else None
    actor_label = user.get_username() if actor_id is not None else "anonymous"
    # Stored as the JSON it was hashed as, so what the database hands back hashes the same.
    payload = json.loads(canonical_json(payload or {}))
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
        }
        digest = record_hash(prev_hash=head.last_hash, **fields)
        record = AuditRecord.objects.create(prev_hash=head.last_hash, hash=digest, **fields)
        AuditHead.objects.filter(pk=1).update(last_id=record.pk, last_hash=digest, count=F("count") + 1)
    return record


@dataclass(frozen=True)
class AuditVerdict:
    ok: bool
    count: int
    bad_record_id: int | None = None
    reason: str = ""


def audit_verify() -> AuditVerdict:
    """Walk the whole chain; the first record that does not fit is named."""
    expected_prev = GENESIS_HASH
    count = 0
    previous_id: int | None = None
    rows = AuditRecord.objects.order_by("pk").values_list(
        "pk", "created_at", "actor_id", "actor_label", "action", "session_id", "ip", "user_agent", "payload",
        "prev_hash", "hash",
    )
    for pk, created_at, actor_id, actor_label, action, session_id, ip, agent, payload, prev_hash, stored in rows.iterator(chunk_size=2000):
        if prev_hash != expected_prev:
            after = f"record {previous_id}" if previous_id is not None else "the start of the chain"
            return AuditVerdict(False, count, pk, (
                f"record {pk}: prev_hash does not match the hash of {after} "
                "(a record between them was deleted, or one was rewritten)"
            ))
        digest = record_hash(
            prev_hash=prev_hash, created_at=created_at, actor_id=actor_id, actor_label=actor_label, action=action,
            session_id=session_id, ip=ip, user_agent=agent, payload=payload,
        )
        if digest != stored:
            return AuditVerdict(False, count, pk, f"record {pk}: hash mismatch (its content was edited)")
        expected_prev, previous_id = stored, pk
        count += 1
    head = AuditHead.objects.filter(pk=1).values("last_id", "last_hash", "count").first()
    if head is not None and (head["last_hash"] != expected_prev or head["count"] != count):
        return AuditVerdict(False, count, head["last_id"], (
            f"record {head['last_id']}: the newest record is missing (the chain ends at "
            f"{'record ' + str(previous_id) if previous_id else 'its start'} after {count} of {head['count']} records)"
        ))
    return AuditVerdict(True, count)
