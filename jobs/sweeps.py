"""Sweeps: one training configuration over several seeds (and a grid of up to two parameters),
as one job (README, Jobs: sweeps).

The sweep job creates one ``train_policy`` job per (grid point, seed), its *runs*, which any
number of training workers take like any other job (each run is retried, resumed and bounded
as one). The sweep holds no worker while they run: each time it is claimed it looks at its runs
and, until they have all ended, goes back to the queue (``JobWaiting``; its message comes back
JOBS_DEFER_S later). When they have, its result is, per grid point and task, the mean ± std of
the runs' greedy test scores (and of their normalised scores), with the runs listed; its page
draws every run's learning curve on one chart per point.

The quota of queued jobs counts a sweep as itself plus its runs, at creation; the runs then
count against the owner's running quota like any job."""

from __future__ import annotations

import itertools
import json
import statistics
from typing import Any

from rest_framework import serializers

from jobs.params import StrictSerializer, TrainPolicyParams

MAX_SEEDS = 10
MAX_RUNS = 30
MAX_GRID_PARAMS = 2
MAX_GRID_VALUES = 6
# What a grid may vary: the learner's settings (the task, catalog and budget are the experiment).
GRID_PARAMS = ("algorithm", "lr", "ent_coef", "n_envs", "hidden", "total_steps")
SWEEP_OWNS = ("seed", "checkpoint_name")  # each run's own


class JobWaiting(Exception):
    """The sweep's runs have not all ended: back to the queue, to be looked at again later."""


class JSONObjectField(serializers.Field):
    """A JSON object: one from the API as it is, a form's text parsed (a textarea)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("style", {"widget": "textarea", "rows": 4})
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise serializers.ValidationError(f"Not JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise serializers.ValidationError("A JSON object is required, e.g. {\"lr\": [0.0003, 0.001]}.")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


def _errors_of(detail: Any) -> str:
    """One line from a nested serializer's errors: "total_steps: Ensure this value …"."""
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_errors_of(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return "; ".join(_errors_of(v) for v in detail[:2])
    return str(detail)


class SweepParams(StrictSerializer):
    train = JSONObjectField(default=dict, style={"widget": "textarea", "rows": 4, "placeholder": (
        '{"task_id": "budgeted_screening", "catalog": "classic", "total_steps": 200000}')},
        help_text="The policy training's parameters (as a training job takes them), without seed and checkpoint_name.")
    seeds = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=2**31 - 1), min_length=1,
                                  max_length=MAX_SEEDS, default=[0, 1, 2],
                                  help_text=f"One run per seed (and grid point); at most {MAX_SEEDS}.")
    grid = JSONObjectField(default=dict, style={"widget": "textarea", "rows": 3, "placeholder": '{"lr": [0.0003, 0.001]}'},
                           help_text=(f"Optional: up to {MAX_GRID_PARAMS} of {', '.join(GRID_PARAMS)}, each a list of "
                                      f"at most {MAX_GRID_VALUES} values; every combination is a grid point. At most "
                                      f"{MAX_RUNS} runs in all."))

    def validate_seeds(self, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each seed once.")
        return value

    def validate_train(self, value: dict[str, Any]) -> dict[str, Any]:
        owned = [k for k in SWEEP_OWNS if k in value]
        if owned:
            raise serializers.ValidationError(f"{', '.join(owned)}: each run's own (give seeds instead).")
        return value

    def validate_grid(self, value: dict[str, Any]) -> dict[str, list[Any]]:
        if len(value) > MAX_GRID_PARAMS:
            raise serializers.ValidationError(f"At most {MAX_GRID_PARAMS} parameters, got {len(value)}.")
        for name, values in value.items():
            if name not in GRID_PARAMS:
                raise serializers.ValidationError(f"{name!r} cannot be swept; expected one of {', '.join(GRID_PARAMS)}.")
            if not isinstance(values, list) or not 1 <= len(values) <= MAX_GRID_VALUES:
                raise serializers.ValidationError(f"{name}: a list of 1 to {MAX_GRID_VALUES} values.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        grid = attrs["grid"]
        names = sorted(grid)
        points = [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]
        n_runs = len(points) * len(attrs["seeds"])
        if n_runs > MAX_RUNS:
            raise serializers.ValidationError({"grid": [
                f"{len(points)} grid points × {len(attrs['seeds'])} seeds = {n_runs} runs; at most {MAX_RUNS}."]})
        runs = []
        for point in points:
            checked = TrainPolicyParams(data={**attrs["train"], **point, "seed": attrs["seeds"][0]})
            if not checked.is_valid():
                where = "grid" if set(checked.errors) & set(point) else "train"
                raise serializers.ValidationError({where: [_errors_of(checked.errors)]})
            base = {k: v for k, v in checked.validated_data.items() if k not in SWEEP_OWNS}
            runs += [{"point": point, "params": {**base, "seed": seed}} for seed in attrs["seeds"]]
        attrs["runs"] = runs  # derived: exactly what each run is asked (the job row says it)
        return attrs


def point_label(point: dict[str, Any]) -> str:
    # By name: PostgreSQL's jsonb gives a stored object's keys back in an order of its own.
    return ", ".join(f"{k} = {json.dumps(v)}" for k, v in sorted(point.items())) or "the configuration"


def _stats(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values) if values else None,
            # The population std, as the README's three-seed tables and every other std on the site
            # (agents.stats explains the choice; the spread of these seeds, not an estimate).
            "std": statistics.pstdev(values) if len(values) > 1 else None, "n": len(values)}


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per grid point: its runs (job, seed, status) and, per task, mean ± std over the
    seeds (population std) of the runs' greedy test mean score and normalised score."""
    points: dict[str, dict[str, Any]] = {}
    for run in runs:
        label = point_label(run["point"])
        entry = points.setdefault(label, {"point": run["point"], "label": label, "runs": [], "tasks": {}})
        entry["runs"].append({"job": run["job"], "seed": run["seed"], "status": run["status"]})
        for task, t in ((run.get("result") or {}).get("test") or {}).items():
            scores = entry["tasks"].setdefault(task, {"scores": [], "normalised": []})
            if t.get("mean_score") is not None:
                scores["scores"].append(float(t["mean_score"]))
            if t.get("normalised_score") is not None:
                scores["normalised"].append(float(t["normalised_score"]))
    for entry in points.values():
        entry["tasks"] = {task: {"score": _stats(v["scores"]), "normalised": _stats(v["normalised"]),
                                 "scores": v["scores"]} for task, v in sorted(entry["tasks"].items())}
    return {"points": list(points.values()),
            "failed": [{"job": r["job"], "seed": r["seed"], "status": r["status"]} for r in runs
                       if r["status"] != "succeeded"]}


def run_sweep(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Create the runs (once), then come back until they have all ended; the aggregate."""
    runs = ctx.sweep_runs(params["runs"])  # created on the first call, read on the later ones
    ended = [r for r in runs if r["status"] in ("succeeded", "failed", "cancelled")]
    if len(ended) < len(runs):
        ctx.progress(len(ended) / len(runs), f"waiting: {len(ended)} of {len(runs)} runs have ended", force=True)
        raise JobWaiting(f"{len(ended)} of {len(runs)} runs have ended")
    ctx.log(f"all {len(runs)} runs have ended: {sum(r['status'] == 'succeeded' for r in runs)} succeeded")
    return aggregate(runs)
