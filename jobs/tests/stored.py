"""Finished jobs written straight into the database, as a worker would have left them, for tests
that need results but not the minutes of training that make them (the comparison and curves
pages, in-process and in the browser: ``manage.py shell -c "from jobs.tests.stored import …"``).

The numbers are chosen, not measured: a mean of 0.3125 and 3.15 steps round differently under
Python's format (0.312, 3.1) and Django's floatformat (0.313, 3.2)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from jobs.models import Checkpoint, Job


def summary(*, mean: float, std: float, episodes: int, seed_start: int = 10000, task_id: str = "easy_screening",
            catalog: str = "classic", steps: float = 3.15) -> dict[str, Any]:
    """An evaluation summary as results stored before intervals were (no ``score_ci95``)."""
    return {"task_id": task_id, "catalog": catalog, "episodes": episodes, "seed_start": seed_start,
            "mean_score": mean, "std_score": std, "mean_risk_reduction": 0.25, "std_risk_reduction": 0.1,
            "mean_steps": steps, "invalid_actions": 0, "random_score": 0.05, "oracle_score": 0.95,
            "oracle_width": 16, "normalised_score": (mean - 0.05) / 0.9}


def _finished(kind: str, params: dict[str, Any], result: dict[str, Any], owner: User | None,
              series: list[dict[str, Any]] | None = None) -> Job:
    now = timezone.now()
    return Job.objects.create(kind=kind, params=params, owner=owner, status=Job.Status.SUCCEEDED, progress=100.0,
                              stage="done", result=result, series=series or [], started_at=now, finished_at=now)


def stored_evaluation(*, agent: str = "heuristic", mean: float = 0.3125, std: float = 0.25, episodes: int = 20,
                      seed_start: int = 10000, owner: User | None = None, task_id: str = "easy_screening") -> Job:
    params = {"agent": agent, "task_id": task_id, "catalog": "classic", "seed_start": seed_start,
              "episodes": episodes}
    s = summary(mean=mean, std=std, episodes=episodes, seed_start=seed_start, task_id=task_id)
    per_episode = [{"seed": seed_start + i, "patient_id": f"P{i}", "grader_score": mean, "total_raw_reward": 0.0,
                    "steps": 3, "baseline_risk": 0.5, "final_risk": 0.25, "invalid_actions": 0, "truncated": False}
                   for i in range(episodes)]
    return _finished(Job.Kind.EVALUATE, params, {"agent": agent, "summary": s, "per_episode": per_episode}, owner)


def learning_series(*, rise: float, points: int = 12) -> list[dict[str, Any]]:
    """A learning curve that climbs towards ``rise``: training score and greedy validation."""
    return [{"step": 1024 * (k + 1), "train_score": rise * (k + 1) / points * 0.9,
             "eval": {"easy_screening": rise * (k + 1) / points}, "entropy": 1.5 - k * 0.05, "wall_s": k * 0.5}
            for k in range(points)]


def stored_training(*, name: str, mean: float, std: float = 0.2, episodes: int = 30, seed: int = 0,
                    rise: float = 0.8, owner: User | None = None) -> Job:
    """A finished PPO training on easy_screening (classic) with its curve, test and checkpoint."""
    params = {"algorithm": "ppo", "task_id": "easy_screening", "catalog": "classic", "seed": seed,
              "total_steps": 12288, "n_envs": 16, "lr": 3e-4, "ent_coef": 0.01, "hidden": [64], "eval_every": 1,
              "test_episodes": episodes, "checkpoint_name": name}
    test = summary(mean=mean, std=std, episodes=episodes)
    config = {"eval_seeds": list(range(20000, 20050))}
    result = {"checkpoint": name, "steps": 12288, "wall_time_s": 6.0, "steps_per_s": 2048.0,
              "test": {"easy_screening": {**test, "scores": [mean] * episodes}}, "final_eval": None, "config": config}
    job = _finished(Job.Kind.TRAIN_POLICY, params, result, owner, learning_series(rise=rise))
    Checkpoint.objects.create(name=name, kind=Checkpoint.Kind.POLICY, job=job, path=f"job-{job.pk}/policy.pt",
                              task_id="easy_screening", catalog="classic", metrics={"test": {"easy_screening": test}})
    return job


def seed_comparison(owner: str = "rex") -> list[int]:
    """The browser test's world: two training runs, two evaluations on the reference seeds and
    one on other seeds. Returns the training jobs' ids."""
    user = User.objects.get(username=owner)
    runs = [stored_training(name="ppo-s0", mean=0.62, seed=0, rise=0.8, owner=user),
            stored_training(name="ppo-s1", mean=0.55, seed=1, rise=0.6, owner=user)]
    stored_evaluation(agent="heuristic", mean=0.3125, episodes=30, owner=user)
    stored_evaluation(agent="random", mean=0.05, std=0.05, episodes=30, owner=user)
    stored_evaluation(agent="oracle", mean=0.97, std=0.02, episodes=5, seed_start=0, owner=user)
    return [job.pk for job in runs]
