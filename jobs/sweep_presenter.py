"""What a sweep's page shows: per task, mean ± std over the seeds for each grid point, the runs
with their status, and every run's learning curve on one chart per grid point (the curves
overlay, ``jobs.overlay``, of that point's runs)."""

from __future__ import annotations

from typing import Any

from agents.formatting import format_number
from jobs.models import Job
from jobs.overlay import MAX_RUNS, curves_overlay
from jobs.presenters import Table
from jobs.sweeps import point_label


def _mean_std(stats: dict[str, Any]) -> str:
    if not stats or stats.get("mean") is None:
        return "—"
    std = stats.get("std")
    return f"{format_number(stats['mean'])} ± {format_number(std) if std is not None else '—'}"


def present_sweep(job: Job, full: bool = False) -> dict[str, Any]:
    runs = list(Job.objects.filter(parent_id=job.pk).order_by("pk").only("pk", "status", "params", "progress"))
    planned = (job.params or {}).get("runs") or []
    point_of = {r.pk: point_label(p["point"]) for r, p in zip(runs, planned)}
    result = job.result or {}
    tables: list[Table] = []
    by_task: dict[str, list[list[Any]]] = {}
    for point in result.get("points", []):
        for task, t in point["tasks"].items():
            by_task.setdefault(task, []).append([
                point["label"], _mean_std(t["score"]), _mean_std(t["normalised"]), t["score"]["n"],
                ", ".join(format_number(v) for v in t["scores"])])
    for task, rows in by_task.items():
        tables.append(Table(f"{task}: greedy test score over the seeds (mean ± population std)",
                            ["grid point", "test score", "normalised score", "seeds", "each seed's score"], rows,
                            key=f"summary-{task}"))
    tables.append(Table("Runs", ["job", "grid point", "seed", "status", "progress"],
                        [[r.pk, point_of.get(r.pk, "—"), r.params.get("seed"), r.status, format_number(r.progress)]
                         for r in runs], key="runs"))
    plots = []
    groups: dict[str, list[int]] = {}
    for r in runs:
        groups.setdefault(point_of.get(r.pk, "—"), []).append(r.pk)
    for label, ids in groups.items():
        plots += curves_overlay(ids[:MAX_RUNS], title_prefix=f"{label}: " if len(groups) > 1 else "").plots
    return {"plots": plots, "tables": tables}
