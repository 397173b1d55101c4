"""Checkpoint files that every process on every machine can read, with only the database shared.

A worker writes a checkpoint under its own ``JOBS_ARTIFACT_DIR`` (the runners know only files),
and when the job succeeds the file goes into the database (``CheckpointFile``) in the same
transaction as its Checkpoint row: a checkpoint is listed only once its file is stored. A reader
(a web process serving ``/bandit/predict`` or a download, a worker evaluating a policy) asks for
``local_copy(checkpoint)``: the file under its own ``JOBS_ARTIFACT_DIR``, fetched from the
database when it is missing there or differs in size. So that folder is each machine's copy and
need not be shared (README, Jobs: scaling out).

A checkpoint stored before the files moved into the database has its file put there by migration
0002 when the migrating process can see it; one it could not see is read from the folder as
before."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings

from jobs.models import Checkpoint, CheckpointFile


def artifact_path(relative: str, *, name: str = "") -> Path:
    """Where a file named relative to the artefact folder is on this machine; LookupError when
    the name points outside it. Only a worker writes these names, but a row edited in the
    database must not make a download, or a policy or model load, a way to read any file."""
    root = Path(settings.JOBS_ARTIFACT_DIR).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise LookupError(f"The file of checkpoint {name or relative!r} is outside the artefact folder.")
    return path


def store(checkpoint: Checkpoint) -> CheckpointFile:
    """Put the checkpoint's local file into the database (inside the caller's transaction)."""
    data = artifact_path(checkpoint.path, name=checkpoint.name).read_bytes()
    stored, _ = CheckpointFile.objects.update_or_create(
        checkpoint=checkpoint, defaults={"content": data, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    return stored


def local_copy(checkpoint: Checkpoint) -> Path:
    """The checkpoint's file on this machine, fetched from the database when it is not here (or
    not whole). LookupError when its name points outside the artefact folder; the path returned
    may not exist when the database has no copy either (the caller says "missing")."""
    path = artifact_path(checkpoint.path, name=checkpoint.name)
    stored = CheckpointFile.objects.filter(checkpoint_id=checkpoint.pk).values_list("size", flat=True).first()
    if stored is None or (path.is_file() and path.stat().st_size == stored):
        return path
    content, sha = CheckpointFile.objects.filter(checkpoint_id=checkpoint.pk).values_list("content", "sha256").get()
    data = bytes(content)
    if hashlib.sha256(data).hexdigest() != sha:
        raise LookupError(f"The stored file of checkpoint {checkpoint.name!r} is damaged (its checksum differs).")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside it and renamed: a process reading the file meanwhile sees the whole old one
    # or the whole new one, and two processes fetching at once both end with the same bytes.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
