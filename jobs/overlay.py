"""The learning curves of several training runs on one chart (``/jobs/curves/?ids=3,5,8``).

Any set of training jobs: chosen on the comparison page or the jobs list today, a sweep's seeds
later (it links here with its jobs' ids). Each run keeps one colour on every chart, and one
legend names its job, checkpoint, task and catalog. One chart per validation task (the greedy
``eval`` series, on the run's validation seeds) and one of the training episodes' score: a
multi-task run adds a line to each of its tasks' charts rather than mixing tasks on one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from django.utils.safestring import SafeString

from agents.formatting import format_mean_interval, format_number, format_seeds
from agents.registry import policy_agent
from agents.stats import summary_interval
from envcore.errors import ValidationError
from jobs import selectors
from jobs.models import Job
from jobs.plots import RUN_COLORS, Line, line_chart, series_lines

MAX_RUNS = len(RUN_COLORS)  # beyond this, colours would repeat and the legend would not tell runs apart


def parse_job_ids(values: Iterable[str]) -> list[int]:
    """Job ids from ``?ids=3,5,8`` and/or repeated ``?ids=3&ids=5`` (the pages' checkboxes), in
    order, each once. ValidationError (a 422) for anything but positive integers, or too many."""
    ids: list[int] = []
    for value in values:
        for part in str(value).split(","):
            text = part.strip()
            if not text:
                continue
            # ASCII digits only ("²".isdigit() is true), and within the database's integers.
            if not re.fullmatch(r"[0-9]{1,18}", text) or int(text) < 1:
                raise ValidationError(f"ids must be comma-separated job ids (positive integers); {text[:40]!r} "
                                      "is not one.", "ids", where="query")
            if int(text) not in ids:
                ids.append(int(text))
    if len(ids) > MAX_RUNS:
        raise ValidationError(f"ids: at most {MAX_RUNS} runs on one chart ({len(ids)} given).", "ids", where="query")
    return ids


@dataclass
class Run:
    job: Job
    color: str
    checkpoint: str
    task_id: str
    catalog: str
    detail: str  # algorithm, seed, steps
    test: str  # the greedy test's mean [95 % CI] on its own task, or "—"
    validation_seeds: str

    @property
    def label(self) -> str:
        """The name on the charts' own legends (short: the page's legend says the rest)."""
        return f"job {self.job.pk}"


@dataclass
class Overlay:
    runs: list[Run] = field(default_factory=list)
    plots: list[SafeString] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # ids not shown and why; runs not comparable


def _validation_seeds(config: dict[str, Any]) -> str:
    seeds = config.get("eval_seeds")
    if not isinstance(seeds, list) or not seeds:
        return "—"
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return format_seeds(seeds[0], len(seeds))
    return f"{len(seeds)} seeds from {seeds[0]}"


def _run(job: Job, color: str) -> Run:
    params, result = job.params or {}, job.result or {}
    checkpoints = [ck.name for ck in job.checkpoints.all()]
    name = (checkpoints[0] if checkpoints else None) or result.get("checkpoint") or params.get("checkpoint_name")
    task = params.get("task_id", "")
    test = (result.get("test") or {}).get(task) or {}
    detail = (f"{params.get('algorithm', '?')}, seed {params.get('seed', '?')}, "
              f"{format_number(params.get('total_steps'))} steps, {job.status}")
    return Run(job=job, color=color, checkpoint=policy_agent(name) if name else "(no checkpoint yet)", task_id=task,
               catalog=params.get("catalog", ""), detail=detail,
               test=format_mean_interval(test.get("mean_score"), summary_interval(test)) if test else "—",
               validation_seeds=_validation_seeds(result.get("config") or {}))


def curves_overlay(ids: list[int], *, title_prefix: str = "") -> Overlay:
    """The overlay of the training jobs ``ids``; unknown ids and jobs of other kinds are named in
    the notices, never an error. ``title_prefix`` heads every chart's title (a sweep's grid point)."""
    found = {job.pk: job for job in selectors.jobs_by_ids(ids)}
    overlay = Overlay()
    missing = [i for i in ids if i not in found]
    if missing:
        overlay.notices.append(f"No job {', '.join(map(str, missing))}: not shown.")
    for i in ids:
        job = found.get(i)
        if job is not None and job.kind != Job.Kind.TRAIN_POLICY:
            overlay.notices.append(f"Job {i} ({job.get_kind_display().lower()}) is not a policy training: "
                                   "it has no learning curve.")
    runs = [_run(found[i], RUN_COLORS[k]) for k, i in enumerate(i for i in ids if i in found
                                                               and found[i].kind == Job.Kind.TRAIN_POLICY)]
    overlay.runs = runs
    if not runs:
        return overlay
    quiet = [r.label for r in runs if not r.job.series]
    if quiet:
        overlay.notices.append(f"{', '.join(quiet)}: no points yet (queued, or stopped before its first update).")
    seed_sets = {r.validation_seeds for r in runs if r.validation_seeds != "—"}
    if len(seed_sets) > 1:
        overlay.notices.append("These runs were validated on different seeds (" + ", ".join(sorted(seed_sets))
                               + "): their validation curves compare different patients.")
    by_task: dict[str, list[Line]] = {}
    train: list[Line] = []
    for run in runs:
        for line in series_lines(run.job.series or [], ["eval"]):
            task = line.label.split(": ", 1)[-1]
            by_task.setdefault(task, []).append(Line(run.label, line.points, color=run.color))
        train += [Line(run.label, line.points, color=run.color)
                  for line in series_lines(run.job.series or [], ["train_score"])]
    seeds = " · ".join(sorted(seed_sets)) or "the runs' validation seeds"
    for task, lines in sorted(by_task.items()):
        overlay.plots.append(line_chart(f"{title_prefix}Greedy validation score on {task} (seeds {seeds})", lines,
                                        y_label="grader score", y_range=(0, 1)))
    overlay.plots.append(line_chart(f"{title_prefix}Training episodes' score", train, y_label="grader score",
                                    y_range=(0, 1)))
    return overlay
