"""What a supervisor does with the audit trail from /audit/: download it, and check its chain.
Both are audit records themselves (the trail says who took it away, and who checked it when)."""

from __future__ import annotations

from typing import Any

from accounts import permissions
from reviews.audit import AuditVerdict, RequestMeta, audit_append, audit_verify
from reviews.models import AuditRecord


def audit_export_record(*, meta: RequestMeta, fmt: str, filters: dict[str, Any], rows: int) -> None:
    permissions.require(meta.user, "audit.view")
    audit_append(meta=meta, action=AuditRecord.Action.AUDIT_EXPORTED,
                 payload={"format": fmt, "filters": {k: str(v) for k, v in filters.items()}, "rows": rows})


def audit_check(*, meta: RequestMeta) -> AuditVerdict:
    """Walk the chain and the checkpoint log now (``manage.py verify_audit``'s check) and record
    that it was run and what it found. The record comes after the walk: it is not part of what
    was verified."""
    permissions.require(meta.user, "audit.view")
    verdict = audit_verify()
    audit_append(meta=meta, action=AuditRecord.Action.AUDIT_VERIFIED, payload={
        "ok": verdict.ok, "records": verdict.count, "checkpoints": verdict.checkpoints, "reason": verdict.reason,
        "bad_record_id": verdict.bad_record_id,
    })
    return verdict


def verdict_text(verdict: AuditVerdict) -> str:
    if verdict.ok:
        return (f"The chain verifies: {verdict.count} records, extending all {verdict.checkpoints} checkpoints "
                "outside the database.")
    return f"The chain does not verify: {verdict.reason}."
