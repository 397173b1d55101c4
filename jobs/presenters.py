"""What the job pages and the admin show of a job: plots and result tables, per kind.

A presenter is ``present(job, full=False) -> {"plots": [svg…], "tables": [Table…]}``; bandit
kinds have theirs in ``bandits.presenters``. Works on a running job too (the plots of what is
there yet). ``full=True`` asks for every row (the downloads, ``jobs.downloads``); the page may
show fewer. Each table's ``key`` names its download (``/jobs/<id>/download/<key>.csv``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from django.utils.module_loading import import_string
from django.utils.text import slugify

from agents.formatting import format_mean_interval, format_number, format_seeds
from agents.stats import summary_interval
from jobs.kinds import KINDS
from jobs.models import Job
from jobs.plots import histogram, line_chart, series_lines


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    key: str = ""  # the download's name; derived from the title when not given
    sortable: bool = False  # the page lets its columns be sorted (jobs.js)

    def __post_init__(self) -> None:
        if not self.key:
            self.key = slugify(self.title.split("(")[0]) or "table"


# Every number through agents.formatting: the one rounding the compare page and the admin use too.
_num = format_number

# A set's mean is shown with its 95 % Student-t interval (agents.stats); the std beside it is the
# population std the results store (the spread of these seeds; the interval corrects it).
SCORE_COLUMNS = ["mean score [95 % CI]", "std score (population)"]


def _score_cells(summary: dict[str, Any]) -> list[str]:
    return [format_mean_interval(summary.get("mean_score"), summary_interval(summary, "score")),
            _num(summary.get("std_score"))]


def _risk_reduction_cell(summary: dict[str, Any]) -> str:
    # Results from before std_risk_reduction was stored for training tests show the mean alone.
    return format_mean_interval(summary.get("mean_risk_reduction"), summary_interval(summary, "risk_reduction"),
                                "risk")


# Results from before the normalised score have none: their cells show "—".
NORMALISED_COLUMNS = ["normalised score", "random · oracle (same seeds; the oracle has full information)"]


def _normalised_cells(summary: dict[str, Any]) -> list[str]:
    refs = "—"
    if summary.get("oracle_score") is not None:
        refs = f"{_num(summary.get('random_score'))} · {_num(summary.get('oracle_score'))}"
    return [_num(summary.get("normalised_score")), refs]


def present_train_policy(job: Job, full: bool = False) -> dict[str, Any]:
    series = job.series or []
    plots = [
        line_chart("Learning curve (training episodes, and greedy validation on seeds 20000–20049)",
                   series_lines(series, ["train_score", "eval"]), y_label="grader score", y_range=(0, 1)),
        line_chart("Policy entropy", series_lines(series, ["entropy"]), y_label="nats"),
    ]
    tables = []
    result = job.result or {}
    for task, t in (result.get("test") or {}).items():
        plots.append(histogram(f"Greedy test scores on {task} ({t.get('episodes')} episodes from seed "
                               f"{t.get('seed_start')})", t.get("scores") or []))
    if result:
        tables.append(Table("Test (greedy, seeds 10000…)",
                            ["task", *SCORE_COLUMNS, *NORMALISED_COLUMNS, "risk reduction [95 % CI]", "steps",
                             "episodes", "seeds"],
                            [[task, *_score_cells(t), *_normalised_cells(t), _risk_reduction_cell(t),
                              _num(t.get("mean_steps"), "steps"), t.get("episodes"),
                              format_seeds(t.get("seed_start", 10000), t.get("episodes"))]
                             for task, t in (result.get("test") or {}).items()]))
        tables.append(Table("Training", ["checkpoint", "steps", "wall time (s)", "steps/s"],
                            [[result.get("checkpoint"), result.get("steps"), _num(result.get("wall_time_s"), "seconds"),
                              _num(result.get("steps_per_s"), "rate")]]))
    return {"plots": plots, "tables": tables}


def present_evaluate(job: Job, full: bool = False) -> dict[str, Any]:
    result = job.result or {}
    episodes = result.get("per_episode") or []
    s = result.get("summary") or {}
    plots = [histogram(f"Score distribution ({result.get('agent', job.params.get('agent'))})",
                       [e["grader_score"] for e in episodes])] if job.result else []
    tables = []
    if result:
        tables.append(Table("Summary", ["agent", "task", "catalog", "episodes", "seeds", *SCORE_COLUMNS,
                                        *NORMALISED_COLUMNS, "risk reduction [95 % CI]", "mean steps",
                                        "invalid actions"],
                            [[result.get("agent"), s.get("task_id"), s.get("catalog"), s.get("episodes"),
                              format_seeds(s.get("seed_start", job.params.get("seed_start")), s.get("episodes")),
                              *_score_cells(s), *_normalised_cells(s), _risk_reduction_cell(s),
                              _num(s.get("mean_steps"), "steps"), s.get("invalid_actions")]]))
        tables.append(Table("Episodes", ["seed", "patient", "score", "baseline risk", "final risk", "steps",
                                         "invalid", "truncated"],
                            [[e["seed"], e["patient_id"], _num(e["grader_score"]), _num(e["baseline_risk"], "risk"),
                              _num(e["final_risk"], "risk"), e["steps"], e["invalid_actions"], e["truncated"]]
                             for e in episodes]))
    return {"plots": plots, "tables": tables}


def present_llm_suggest(job: Job, full: bool = False) -> dict[str, Any]:
    result = job.result or {}
    sug = result.get("suggestion") or {}
    if not sug:
        return {"plots": [], "tables": []}
    return {"plots": [], "tables": [Table("Suggestion", ["action", "answered by", "model", "fallback reason", "latency (s)"],
                                          [[json.dumps(sug.get("action")), sug.get("source"), sug.get("model") or "—",
                                            sug.get("fallback_reason") or "—", _num(sug.get("latency_s"), 2)]])]}


def _headline_test(params: dict[str, Any], test: Any) -> str:
    if not isinstance(test, dict) or not test:
        return "—"
    task = params.get("task_id") if params.get("task_id") in test else next(iter(test))
    t = test.get(task) or {}
    return (f"test {format_mean_interval(t.get('mean_score'), summary_interval(t))}"
            + ("" if len(test) == 1 else f" on {task}"))


def headline(kind: str, params: dict[str, Any], parts: dict[str, Any]) -> str:
    """A finished job's one-line outcome for the jobs list, from the few parts of its result that
    ``jobs.selectors.job_list`` reads (never the whole result: a page lists 50 jobs)."""
    if kind == "evaluate" and isinstance(parts.get("summary"), dict):
        s = parts["summary"]
        norm = s.get("normalised_score")
        return (format_mean_interval(s.get("mean_score"), summary_interval(s))
                + (f" (normalised {_num(norm)})" if norm is not None else ""))
    if kind == "train_policy":
        return _headline_test(params, parts.get("test"))
    spec = KINDS.get(kind)
    if spec is not None and spec.headline_path:  # another app's kind (bandits.presenters)
        return str(import_string(spec.headline_path)(params, parts))
    return "—"


def subject(job: Job) -> tuple[str, str]:
    """(task, agent or model) a job is about, for the jobs list."""
    params = job.params or {}
    spec = KINDS.get(job.kind)
    if spec is not None and spec.subject_path:  # another app's kind (bandits.presenters)
        task, who = import_string(spec.subject_path)(params)
        return str(task), str(who)
    task = params.get("task_id") or "—"
    if job.kind == "evaluate":
        who = params.get("agent") or "—"
    elif job.kind == "train_policy":
        who = params.get("checkpoint_name") or params.get("algorithm") or "—"
    elif job.kind == "sweep":
        task = (params.get("train") or {}).get("task_id") or "easy_screening"
        who = f"{len(params.get('runs') or [])} runs"
    else:
        who = params.get("episode_id") or "fresh episode"
    return str(task), str(who)


def list_row(job: Job) -> dict[str, Any]:
    """What the jobs list shows of a job read by ``jobs.selectors.job_list``."""
    task, who = subject(job)
    parts = {p: getattr(job, f"headline_{p}", None) for p in ("summary", "test", "final", "n_flagged", "n")}
    checkpoints = [f"{ck.kind}:{ck.name}" for ck in job.checkpoints.all()]
    return {"job": job, "task": task, "who": ", ".join(checkpoints) or who,
            "headline": headline(job.kind, job.params or {}, parts) if job.status == Job.Status.SUCCEEDED else "—"}


def present(job: Job, *, full: bool = False) -> dict[str, Any]:
    try:
        presenter: Callable[..., dict[str, Any]] = import_string(KINDS[job.kind].presenter_path)
    except (KeyError, ImportError):
        return {"plots": [], "tables": []}
    return presenter(job, full=full)
