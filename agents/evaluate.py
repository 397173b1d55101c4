"""Run a policy over seeds and summarise grader scores (pure Python, no Django)."""

from __future__ import annotations

import random
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

from agents.policies import Policy
from agents.stats import mean_interval
from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv


@dataclass(frozen=True)
class EpisodeResult:
    seed: int
    patient_id: str
    grader_score: float
    total_raw_reward: float
    steps: int
    baseline_risk: float
    final_risk: float
    invalid_actions: int
    truncated: bool

    @property
    def risk_reduction(self) -> float:
        return self.baseline_risk - self.final_risk


@dataclass(frozen=True)
class Evaluation:
    task_id: str
    catalog: str
    episodes: list[EpisodeResult] = field(default_factory=list)

    @property
    def scores(self) -> list[float]:
        return [e.grader_score for e in self.episodes]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.episodes else 0.0

    @property
    def std(self) -> float:
        # Population std: the spread of these very seeds. Kept so (stored results hold it), but
        # the confidence interval, which treats the seeds as a sample of patients, corrects it
        # to the sample std (agents.stats.mean_interval).
        return statistics.pstdev(self.scores) if len(self.episodes) > 1 else 0.0

    def summary(self) -> dict[str, Any]:
        """Means over the episodes with their population std and 95 % Student-t intervals
        (``<quantity>_ci95``: [low, high], None under two episodes)."""
        n = len(self.episodes)
        reductions = [e.risk_reduction for e in self.episodes]
        mean_rr = sum(reductions) / max(n, 1)
        std_rr = statistics.pstdev(reductions) if n > 1 else 0.0
        score_ci, rr_ci = mean_interval(self.mean, self.std, n), mean_interval(mean_rr, std_rr, n)
        return {
            "task_id": self.task_id,
            "catalog": self.catalog,
            "episodes": n,
            "mean_score": self.mean,
            "std_score": self.std,
            "score_ci95": score_ci.as_list() if score_ci else None,
            "mean_risk_reduction": mean_rr,
            "std_risk_reduction": std_rr,
            "risk_reduction_ci95": rr_ci.as_list() if rr_ci else None,
            "mean_steps": sum(e.steps for e in self.episodes) / max(n, 1),
            "invalid_actions": sum(e.invalid_actions for e in self.episodes),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "per_episode": [asdict(e) for e in self.episodes]}


def run_episode(env: PolypharmacyEnv, policy: Policy, *, task_id: str, seed: int) -> EpisodeResult:
    """One episode with the patient picked by ``seed``; the policy's RNG is seeded with it too."""
    rng = random.Random(seed)
    obs = env.reset(seed=seed, task_id=task_id, episode_id=f"eval-{task_id}-{seed}")
    total, invalid = 0.0, 0
    while not obs.done:
        obs = env.step(policy(obs.to_dict(), catalog=env.catalog, rng=rng))
        total += obs.raw_reward
        invalid += obs.last_action_error is not None
    assert obs.grader_score is not None
    return EpisodeResult(
        seed=seed,
        patient_id=obs.patient_id,
        grader_score=obs.grader_score,
        total_raw_reward=total,
        steps=obs.step_index,
        baseline_risk=obs.baseline_risk,
        final_risk=obs.current_risk,
        invalid_actions=invalid,
        truncated=obs.truncated,
    )


def evaluate(
    policy: Policy,
    task: str,
    seeds: Iterable[int],
    catalog: Catalog | str = "curated",
    *,
    on_episode: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Per-episode results and mean ± std grader score of ``policy`` on ``task`` over ``seeds``.
    ``on_episode(done, total)`` is called after each episode (progress reports)."""
    env = PolypharmacyEnv(catalog)
    seeds = list(seeds)
    episodes = []
    for seed in seeds:
        episodes.append(run_episode(env, policy, task_id=task, seed=seed))
        if on_episode is not None:
            on_episode(len(episodes), len(seeds))
    return Evaluation(task_id=task, catalog=env.catalog.name, episodes=episodes)
