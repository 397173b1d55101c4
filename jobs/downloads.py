"""What a researcher takes away from a job: each result table as CSV or JSON (every row, from the
same presenter the page uses, so the numbers are the page's), the whole job as JSON (parameters,
result and series as stored, unrounded), and the checkpoint files it produced.

Used by the pages (``jobs.views``) and the API (``jobs.api``) alike."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from agents.formatting import csv_cell
from jobs import selectors
from jobs.models import Checkpoint, Job
from jobs.presenters import Table, present

FORMATS = ("csv", "json")


def tables(job: Job) -> list[Table]:
    """The job's result tables with every row."""
    return list(present(job, full=True)["tables"])


def table(job: Job, key: str) -> Table:
    """One of the job's tables by its key; LookupError naming the keys there are."""
    found = tables(job)
    for t in found:
        if t.key == key:
            return t
    keys = ", ".join(t.key for t in found) or "none yet"
    raise LookupError(f"Job {job.pk} has no table {key!r} (its tables: {keys}).")


def table_csv(t: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in t.columns])
    writer.writerows([[csv_cell(cell) for cell in row] for row in t.rows])
    return out.getvalue()


def table_json(t: Table) -> dict[str, Any]:
    return {"key": t.key, "title": t.title, "columns": t.columns, "rows": t.rows}


def table_index(job: Job) -> list[dict[str, Any]]:
    """The tables a job has, with their row counts (``GET /api/jobs/<id>/tables``)."""
    return [{"key": t.key, "title": t.title, "columns": t.columns, "rows": len(t.rows)} for t in tables(job)]


def job_document(job: Job) -> dict[str, Any]:
    """The job as stored: what the tables are made from, with full precision."""
    return {
        "id": job.pk, "kind": job.kind, "status": job.status, "owner": job.owner.username if job.owner else None,
        "params": job.params, "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "error": job.error, "result": job.result, "series": job.series,
        "checkpoints": [ck.name for ck in job.checkpoints.all()],
    }


def checkpoint_download(name: str) -> tuple[Checkpoint, Path]:
    """A checkpoint and its file; LookupError when either is missing."""
    ck = selectors.checkpoint_get(name)
    path = selectors.checkpoint_file(ck)  # LookupError outside the artefact folder
    if not path.is_file():
        raise LookupError(f"The file of checkpoint {ck.name!r} is missing.")
    return ck, path
