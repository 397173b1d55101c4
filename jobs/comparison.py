"""The comparison page's groups: per (catalog, task), the rows of ``jobs.selectors.policy_comparison``
grouped by the seed set they were scored on, each group ranked on its own.

Two means are only comparable on the same patients: a 20-episode test on seeds 0–19 and a
100-episode evaluation on seeds 10000–10099 differ by which patients they drew as much as by
the agents. So rows are never ranked across seed sets. Each task has a *reference* seed set, the
one most of its rows share (ties: more episodes, then the lower first seed; the site's default,
10000–10099, is what evaluations and training tests both use unless told otherwise), shown
first; every other seed set follows as its own group, flagged with the reason, and is ranked
only among its own rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.formatting import format_seeds

SeedKey = tuple[int | None, int | None]  # (first seed, episodes)


@dataclass
class SeedSetGroup:
    start: int | None
    episodes: int | None
    rows: list[dict[str, Any]] = field(default_factory=list)  # best first, each with its "rank"
    reference: bool = False
    flag: str = ""  # why this group is not ranked with the reference set ("" for the reference)

    @property
    def seeds(self) -> str:
        return format_seeds(self.start, self.episodes) if self.known else "unknown seeds"

    @property
    def known(self) -> bool:
        return self.start is not None and isinstance(self.episodes, int)

    @property
    def label(self) -> str:
        if not self.known:
            return "seeds not recorded"
        return f"seeds {self.seeds} ({self.episodes} episode{'s' if self.episodes != 1 else ''})"


@dataclass
class TaskComparison:
    catalog: str
    task_id: str
    seed_sets: list[SeedSetGroup]  # the reference set first

    @property
    def flagged(self) -> int:
        """Rows kept out of the reference ranking."""
        return sum(len(g.rows) for g in self.seed_sets if not g.reference)


def _reference_key(groups: dict[SeedKey, list[dict[str, Any]]]) -> SeedKey:
    def preference(key: SeedKey) -> tuple[int, int, int, int]:
        start, episodes = key
        known = start is not None and episodes is not None
        return (known, len(groups[key]), episodes or 0, -(start or 0))

    return max(groups, key=preference)


def _ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ordered = sorted(rows, key=lambda r: (r["mean"] is None, -(r["mean"] or 0.0), r["agent"]))
    return [{**r, "rank": i + 1 if r["mean"] is not None else None} for i, r in enumerate(ordered)]


def comparison_groups(rows: list[dict[str, Any]]) -> list[TaskComparison]:
    """The rows per (catalog, task), sorted by catalog and task, grouped and ranked by seed set."""
    by_task: dict[tuple[str, str], dict[SeedKey, list[dict[str, Any]]]] = {}
    for row in rows:
        key = (row.get("seed_start"), row.get("episodes"))
        by_task.setdefault((row["catalog"], row["task_id"]), {}).setdefault(key, []).append(row)
    out = []
    for (catalog, task_id), groups in sorted(by_task.items()):
        ref_key = _reference_key(groups)
        reference = SeedSetGroup(*ref_key, rows=_ranked(groups[ref_key]), reference=True)
        others = []
        for key in sorted((k for k in groups if k != ref_key), key=lambda k: (k[0] is None, k[0] or 0, k[1] or 0)):
            group = SeedSetGroup(*key, rows=_ranked(groups[key]))
            group.flag = (f"Scored on {group.label}, not on this task's reference set ({reference.label}): "
                          "a different set of patients, so these rows are ranked only among themselves, "
                          "never against the rows above.")
            others.append(group)
        out.append(TaskComparison(catalog=catalog, task_id=task_id, seed_sets=[reference, *others]))
    return out


COLUMNS = ["catalog", "task_id", "seeds", "seed_start", "episodes", "reference_set", "rank", "agent",
           "mean_score", "ci_low", "ci_high", "std_score", "normalised_score", "random_score",
           "oracle_score", "mean_risk_reduction", "risk_reduction_ci_low", "risk_reduction_ci_high",
           "mean_steps", "source", "job_id"]


def comparison_records(groups: list[TaskComparison]) -> list[dict[str, Any]]:
    """The page's rows flattened for the downloads (``/jobs/compare/download.csv|json``): one
    record per row in the page's order, with unrounded numbers (the page rounds them), the seed
    set it was ranked in and whether that is the task's reference set."""
    out = []
    for task in groups:
        for group in task.seed_sets:
            for r in group.rows:
                ci, rr_ci = r.get("ci"), r.get("risk_reduction_ci")
                out.append({
                    "catalog": task.catalog, "task_id": task.task_id, "seeds": group.seeds,
                    "seed_start": group.start, "episodes": group.episodes, "reference_set": group.reference,
                    "rank": r.get("rank"), "agent": r["agent"], "mean_score": r.get("mean"),
                    "ci_low": ci.low if ci else None, "ci_high": ci.high if ci else None,
                    "std_score": r.get("std"), "normalised_score": r.get("normalised"),
                    "random_score": r.get("random"), "oracle_score": r.get("oracle"),
                    "mean_risk_reduction": r.get("risk_reduction"),
                    "risk_reduction_ci_low": rr_ci.low if rr_ci else None,
                    "risk_reduction_ci_high": rr_ci.high if rr_ci else None,
                    "mean_steps": r.get("steps"), "source": r.get("source"), "job_id": r.get("job_id"),
                })
    return out
