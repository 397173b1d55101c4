"""Checkpoints of the audit chain, kept outside the database (DESIGN §6).

A checkpoint is the chain's head at one moment (record count, last record id, last hash),
signed with the audit key and appended as one JSON line to a log file under
``AUDIT_CHECKPOINT_DIR``. Like a Certificate Transparency log's signed tree heads, it lets the
verifier catch what the chain alone cannot: a database restored to an earlier state, its tail
deleted, or the whole chain rebuilt. Whoever can rewrite the database cannot also rewrite a file
on another machine, or on a write-once mount, which is where a deployment should put it.

Checkpoints are written every ``AUDIT_CHECKPOINT_EVERY`` records and at least every
``AUDIT_CHECKPOINT_INTERVAL_S`` while records are being written (after the transaction that
wrote them commits), by the job workers' reaper while the site is quiet, and on demand
(``manage.py audit_checkpoint``). Several processes may append to the log: each line is one
``write`` under an exclusive lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone

from reviews.audit_chain import keyring, sign, signature_ok
from reviews.models import AuditHead

logger = logging.getLogger(__name__)

LOG_VERSION = 1
_TAIL_BYTES = 8192


@dataclass(frozen=True)
class Checkpoint:
    line: int  # 1-based line number in the log
    count: int
    last_id: int
    last_hash: str
    at: str
    key_id: str


class CheckpointLogError(Exception):
    """A line of the log that is not a checkpoint signed with a configured key."""


def log_path(alias: str = "default") -> Path:
    """The log for this database: one file per database, named from the settings (which an
    attacker with only SQL access cannot change), so two databases never share a log."""
    db = connections[alias].settings_dict
    label = f"{connections[alias].vendor}-{db.get('HOST') or ''}-{db.get('PORT') or ''}-{db['NAME']}"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")[:150]
    return Path(settings.AUDIT_CHECKPOINT_DIR) / f"checkpoints-{slug}.jsonl"


def _fields(line: dict[str, Any]) -> dict[str, Any]:
    return {k: line[k] for k in ("v", "count", "last_id", "last_hash", "at", "key_id")}


def checkpoints_read(path: Path | None = None) -> list[Checkpoint]:
    """Every checkpoint in the log, oldest first. Raises ``CheckpointLogError`` naming the first
    line that is malformed or whose signature does not verify with a configured key."""
    path = path or log_path()
    if not path.exists():
        return []
    keys = keyring().keys
    found: list[Checkpoint] = []
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                fields = _fields(line)
                signature = line["sig"]
                count, last_id = int(fields["count"]), int(fields["last_id"])
            except (ValueError, KeyError, TypeError):
                raise CheckpointLogError(f"checkpoint log line {number}: not a checkpoint") from None
            key = keys.get(str(fields["key_id"]))
            if key is None:
                raise CheckpointLogError(
                    f"checkpoint log line {number}: signed with key {fields['key_id']!r}, which is not configured "
                    "(AUDIT_KEY, AUDIT_OLD_KEYS)"
                )
            if not isinstance(signature, str) or not signature_ok(key, fields, signature):
                raise CheckpointLogError(f"checkpoint log line {number}: signature does not verify (the line was forged or edited)")
            found.append(Checkpoint(number, count, last_id, str(fields["last_hash"]), str(fields["at"]), str(fields["key_id"])))
    return found


def _last_count(path: Path) -> int | None:
    """The count of the log's newest line (read from its tail only), or None for no log."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return None
    for raw in reversed(lines):
        try:
            return int(json.loads(raw)["count"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def _append(path: Path, fields: dict[str, Any], key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps({**fields, "sig": sign(key, fields)}, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


# When this process last wrote (or found) a checkpoint, per log: the time and the count.
_recent: dict[Path, tuple[float, int]] = {}
_recent_lock = threading.Lock()


def audit_checkpoint(*, force: bool = False) -> Checkpoint | None:
    """Sign the committed head and append it to the log; None when the log already has it (or
    the chain is empty), unless ``force``."""
    head = AuditHead.objects.filter(pk=1).values("count", "last_id", "last_hash").first()
    if head is None or head["count"] == 0:
        return None
    path = log_path()
    if not force and _last_count(path) == head["count"]:
        with _recent_lock:
            _recent[path] = (time.monotonic(), head["count"])
        return None
    ring = keyring()
    at = timezone.now().isoformat()
    fields = {
        "v": LOG_VERSION, "count": head["count"], "last_id": head["last_id"], "last_hash": head["last_hash"],
        "at": at, "key_id": ring.current_id,
    }
    _append(path, fields, ring.current)
    with _recent_lock:
        _recent[path] = (time.monotonic(), head["count"])
    return Checkpoint(0, head["count"], head["last_id"], head["last_hash"], at, ring.current_id)


def audit_checkpoint_if_due(count: int | None = None) -> None:
    """Checkpoint when ``AUDIT_CHECKPOINT_EVERY`` records or ``AUDIT_CHECKPOINT_INTERVAL_S``
    seconds have passed since this process's last one. Never raises: an unwritable log is
    logged, and the next append tries again (the records themselves are committed)."""
    try:
        path = log_path()
        with _recent_lock:
            recent = _recent.get(path)
        if recent is not None:
            at, last = recent
            records_due = count is not None and count - last >= settings.AUDIT_CHECKPOINT_EVERY
            if not records_due and time.monotonic() - at < settings.AUDIT_CHECKPOINT_INTERVAL_S:
                return
        audit_checkpoint()
    except Exception:
        logger.exception("audit checkpoint not written")
