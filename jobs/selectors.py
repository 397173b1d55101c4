"""Reads: jobs a user may see, checkpoints by name, the policy comparison table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.models import F, QuerySet

from agents.formatting import format_mean_interval
from agents.registry import BUILTIN_AGENTS, policy_agent
from agents.stats import summary_interval
from jobs.kinds import KINDS, JobKind
from jobs import storage
from jobs.models import Checkpoint, Job
from accounts import permissions


def may_cancel(user: Any, job: Job) -> bool:
    """accounts.permissions' "jobs.cancel" on this job (its owner's, or nobody's)."""
    return permissions.allowed(user, "jobs.cancel", owner_id=job.owner_id, on_object=True)


def kinds_queueable_by(user: Any) -> list[JobKind]:
    """The job kinds the user may queue (the pages' "New:" links)."""
    return [k for k in KINDS.values() if permissions.allowed(user, f"jobs.queue.{k.name}")]


# The parts of a result the jobs list's headline needs (jobs.presenters.headline): small ones.
HEADLINE_PARTS = ("summary", "test", "final", "n_flagged", "n")


def job_list(*, kind: str | None = None, status: str | None = None) -> QuerySet[Job]:
    qs = Job.objects.select_related("owner").defer("log", "series", "result").prefetch_related("checkpoints")
    qs = qs.annotate(**{f"headline_{p}": F(f"result__{p}") for p in HEADLINE_PARTS})
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs


def jobs_by_ids(ids: list[int]) -> QuerySet[Job]:
    """The jobs among ``ids`` that exist, with their series and checkpoints (the curves overlay)."""
    return Job.objects.filter(pk__in=ids).defer("log").prefetch_related("checkpoints")


def checkpoint_get(name_or_id: str, *, kind: str | None = None) -> Checkpoint:
    """A checkpoint by name (or numeric id); LookupError when there is none."""
    qs = Checkpoint.objects.all()
    if kind:
        qs = qs.filter(kind=kind)
    text = str(name_or_id)
    found = qs.filter(name=text).first() or (qs.filter(pk=int(text)).first() if text.isdigit() else None)
    if found is None:
        raise LookupError(f"No {kind or ''} checkpoint named {text!r}.".replace("  ", " "))
    return found


def checkpoint_file(checkpoint: Checkpoint) -> Path:
    """The checkpoint's file on this machine (fetched from the database when it is not here:
    ``jobs.storage``); LookupError when its row points outside the artefact folder."""
    return storage.local_copy(checkpoint)


def checkpoint_path(name_or_id: str) -> Path:
    """The file of a policy checkpoint (``policy:<name>`` agents); LookupError when unknown or missing."""
    path = checkpoint_file(checkpoint_get(name_or_id, kind=Checkpoint.Kind.POLICY))
    if not path.exists():
        raise LookupError(f"The file of checkpoint {name_or_id!r} is missing ({path}).")
    return path


def agent_options() -> list[dict[str, str]]:
    """The evaluation form's agent picker: the built-in agents, then every trained policy with
    the task and catalog it was trained on (the page fills those fields from them)."""
    options = [{"value": a.name, "label": a.label, "group": "Built-in agents", "task": "", "catalog": ""}
               for a in BUILTIN_AGENTS]
    for ck in Checkpoint.objects.filter(kind=Checkpoint.Kind.POLICY).only("name", "task_id", "catalog", "metrics"):
        tests = (ck.metrics or {}).get("test") or {}
        test = tests.get(ck.task_id) if isinstance(tests, dict) else None
        if not isinstance(test, dict):
            test = {}
        score = test.get("mean_score")
        label = f"policy:{ck.name} — {ck.task_id}, {ck.catalog}" + (
            f", test {format_mean_interval(score, summary_interval(test))}" if score is not None else "")
        options.append({"value": policy_agent(ck.name), "label": label, "group": "Trained policies",
                        "task": ck.task_id, "catalog": ck.catalog})
    return options


def newest_checkpoint(kind: str, *, name: str | None = None) -> Checkpoint | None:
    if name:
        return Checkpoint.objects.filter(kind=kind, name=name).first()
    return Checkpoint.objects.filter(kind=kind).order_by("-created_at", "-id").first()


def _comparison_row(*, catalog: str, task_id: str, agent: str, source: str, job_id: int | None,
                    summary: dict[str, Any], seed_start: Any, training_job_id: int | None) -> dict[str, Any]:
    return {
        "catalog": catalog, "task_id": task_id, "agent": agent, "source": source, "job_id": job_id,
        "mean": summary.get("mean_score"), "std": summary.get("std_score"), "ci": summary_interval(summary),
        "normalised": summary.get("normalised_score"), "oracle": summary.get("oracle_score"),
        "random": summary.get("random_score"), "episodes": summary.get("episodes"),
        "seed_start": seed_start if isinstance(seed_start, int) else None,
        "risk_reduction": summary.get("mean_risk_reduction"), "steps": summary.get("mean_steps"),
        "risk_reduction_ci": summary_interval(summary, "risk_reduction"),
        # The training job whose learning curve this row's policy has (the overlay's checkboxes).
        "training_job_id": training_job_id,
    }


def policy_comparison() -> list[dict[str, Any]]:
    """Rows of (catalog, task, agent, seed set) with the mean score and its 95 % interval: the
    newest finished evaluation of that agent on those seeds, and each trained checkpoint's own
    greedy test where no evaluation of it on the same seeds exists. A seed set is (first seed,
    episodes); ``jobs.comparison`` groups and ranks the rows by it."""
    rows: dict[tuple[str, str, str, Any, Any], dict[str, Any]] = {}
    policies = list(Checkpoint.objects.filter(kind=Checkpoint.Kind.POLICY)
                    .only("name", "task_id", "catalog", "metrics", "job_id"))
    trained_by = {policy_agent(ck.name): ck.job_id for ck in policies}
    evaluations = Job.objects.filter(kind=Job.Kind.EVALUATE, status=Job.Status.SUCCEEDED).order_by("finished_at", "id")
    for job in evaluations.only("id", "params", "result", "finished_at"):
        summary = (job.result or {}).get("summary") or {}
        seed_start = summary.get("seed_start", job.params.get("seed_start"))
        agent = job.params.get("agent", "")
        key = (job.params.get("catalog", ""), job.params.get("task_id", ""), agent, seed_start, summary.get("episodes"))
        rows[key] = _comparison_row(  # later evaluations of the same agent on the same seeds replace earlier ones
            catalog=key[0], task_id=key[1], agent=agent, source=f"evaluation job {job.pk}", job_id=job.pk,
            summary=summary, seed_start=seed_start, training_job_id=trained_by.get(agent))
    for ck in policies:
        for task, t in ((ck.metrics or {}).get("test") or {}).items():
            seed_start = t.get("seed_start", 10000)  # tests stored before seed_start were on 10000…
            key = (ck.catalog, task, policy_agent(ck.name), seed_start, t.get("episodes"))
            rows.setdefault(key, _comparison_row(
                catalog=ck.catalog, task_id=task, agent=key[2], source="training job's test", job_id=ck.job_id,
                summary=t, seed_start=seed_start, training_job_id=ck.job_id))
    return sorted(rows.values(), key=lambda r: (r["catalog"], r["task_id"], -(r["mean"] or 0)))
