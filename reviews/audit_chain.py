"""The audit chain's keys and hashes (DESIGN §6).

Each record's ``hash`` is ``HMAC-SHA256(key, prev_hash + canonical JSON of its fields)``, with
``AUDIT_KEY`` from the environment: the key is not in the database, so someone who can write
the database but not read the server's environment cannot make a record, or a rewritten chain,
that verifies. A record names its key by ``key_id``, a fingerprint of the key (never the key),
so a rotated key keeps old records verifiable: the new key goes in ``AUDIT_KEY`` and the old
one in ``AUDIT_OLD_KEYS``.

Records written before the chain was keyed carry ``key_id == ""`` and a plain SHA-256. The
verifier accepts them only as the chain's prefix, before its first keyed record, and the
checkpoint log (``reviews.audit_anchor``) is what protects them from then on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

UNKEYED = ""  # key_id of the records written before the chain was keyed
_KEY_ID_LABEL = b"polypharmacy audit key id"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def key_id_of(key: bytes) -> str:
    # An HMAC of a fixed label: names the key without telling anything that helps guess it.
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class Keyring:
    """The key new records and checkpoints are made with, and every key that verifies."""

    current_id: str
    keys: dict[str, bytes]

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]


def keyring() -> Keyring:
    """The configured keys (read from settings on each call: cheap, and tests override them)."""
    current = (getattr(settings, "AUDIT_KEY", "") or "").encode("utf-8")
    if not current:
        raise ImproperlyConfigured("AUDIT_KEY: the audit chain needs a key; set AUDIT_KEY to a long random string.")
    keys = {key_id_of(current): current}
    for old in getattr(settings, "AUDIT_OLD_KEYS", ()) or ():
        old_key = old.encode("utf-8")
        keys.setdefault(key_id_of(old_key), old_key)
    return Keyring(key_id_of(current), keys)


def record_body(
    *, created_at: datetime, actor_id: int | None, actor_label: str, action: str, session_id: int | None,
    ip: str, user_agent: str, payload: Any, key_id: str,
) -> str:
    fields = {
        "created_at": created_at.isoformat(), "actor_id": actor_id, "actor_label": actor_label, "action": action,
        "session_id": session_id, "ip": ip, "user_agent": user_agent, "payload": payload,
    }
    if key_id != UNKEYED:
        fields["key_id"] = key_id  # hashed too: a record cannot be moved under another key's name
    return canonical_json(fields)


def record_hash(*, prev_hash: str, key: bytes | None, **fields: Any) -> str:
    """The record's hash: keyed with ``key``, or plain SHA-256 for an unkeyed record (``key=None``)."""
    message = (prev_hash + record_body(**fields)).encode("utf-8")
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(key: bytes, value: Any) -> str:
    return hmac.new(key, canonical_json(value).encode("utf-8"), hashlib.sha256).hexdigest()


def signature_ok(key: bytes, value: Any, signature: str) -> bool:
    return hmac.compare_digest(sign(key, value), signature)
