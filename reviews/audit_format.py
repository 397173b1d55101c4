"""The audit trail as people read it and take it away: payloads as labelled values with numbers
rounded (the page), and every record exactly as stored (the CSV and JSON downloads, whose
payloads and hashes are what ``verify_audit`` checks)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Iterator

from agents.formatting import csv_cell, format_number
from reviews.audit_chain import canonical_json
from reviews.models import AuditRecord

EXPORT_COLUMNS = ("id", "created_at", "actor", "action", "session", "ip", "user_agent", "payload", "key_id",
                  "prev_hash", "hash")


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return format_number(value, 3)
    if isinstance(value, dict):
        if "action_type" in value:  # an action: its fields in a line
            return " ".join(_value_text(v) for k, v in value.items() if v not in (None, ""))
        return ", ".join(f"{k} {_value_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value) or "—"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def payload_items(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """A payload as (label, text) pairs: floats to three decimals, actions on one line, no JSON."""
    return [(key.replace("_", " "), _value_text(value)) for key, value in payload.items()]


def audit_rows(records: Iterable[AuditRecord]) -> Iterator[dict[str, Any]]:
    """Each record with every stored field, unrounded (the payload as stored)."""
    for r in records:
        yield {"id": r.pk, "created_at": r.created_at.isoformat(), "actor": r.actor_label, "action": r.action,
               "session": r.session_id, "ip": r.ip, "user_agent": r.user_agent, "payload": r.payload,
               "key_id": r.key_id, "prev_hash": r.prev_hash, "hash": r.hash}


def audit_csv(records: Iterable[AuditRecord]) -> Iterator[str]:
    """CSV lines (header first); the payload column is its canonical JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    yield out.getvalue()
    for row in audit_rows(records):
        out.seek(0)
        out.truncate()
        writer.writerow([csv_cell(canonical_json(row[c]) if c == "payload" else row[c]) for c in EXPORT_COLUMNS])
        yield out.getvalue()


def audit_json(records: Iterable[AuditRecord], filters: dict[str, Any]) -> Iterator[str]:
    """One JSON document, streamed: the filters and every record."""
    yield '{"filters": ' + json.dumps(filters, default=str) + ', "records": ['
    for i, row in enumerate(audit_rows(records)):
        yield ("," if i else "") + json.dumps(row, ensure_ascii=False)
    yield "]}"
