"""Normalised scores: where a set of episodes falls between the random agent and the oracle.

    normalised = (mean score − mean random score) / (mean oracle score − mean random score)

on the same catalog, task and seeds (as Atari reports human-normalised scores): 0 is the random
agent, 1 the full-information planner (``agents.oracle``, which reads the interaction rules). A
raw grader score means little on its own: the oracle reaches 0.98 on the easy task but only
0.61-0.66 on the complex one, where the random agent scores 0.03-0.04. Every table that shows a set's score shows both.

The references are computed here, per seed, and remembered in this process (the oracle costs
about 0.3 s per complex_tradeoff episode): an evaluation of 100 seeds pays for them once.
"""

from __future__ import annotations

import statistics
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from agents.evaluate import Evaluation, run_episode
from agents.formatting import format_number
from agents.oracle import DEFAULT_WIDTH, plan
from agents.policies import random_policy
from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv

_MAX_REMEMBERED = 50_000
_remembered: OrderedDict[tuple[str, str, int, int], tuple[float, float]] = OrderedDict()
_MIN_SPAN = 1e-6  # below this the random agent already scores like the oracle: nothing to normalise


@dataclass(frozen=True, slots=True)
class References:
    """Mean grader scores of the random agent and the oracle over a set of seeds."""

    random: float
    oracle: float
    episodes: int
    width: int = DEFAULT_WIDTH

    def normalise(self, score: float) -> float | None:
        """``score`` on the random (0) to oracle (1) scale; None when the two coincide."""
        span = self.oracle - self.random
        return None if span < _MIN_SPAN else (score - self.random) / span


def seed_references(catalog: Catalog, task_id: str, seed: int, *, width: int = DEFAULT_WIDTH,
                    env: PolypharmacyEnv | None = None) -> tuple[float, float]:
    """(random agent's score, oracle's score) on one seed."""
    key = (catalog.fingerprint, task_id, seed, width)
    found = _remembered.get(key)
    if found is not None:
        _remembered.move_to_end(key)
        return found
    env = env if env is not None else PolypharmacyEnv(catalog)
    rnd = run_episode(env, random_policy, task_id=task_id, seed=seed).grader_score
    env.reset(seed=seed, task_id=task_id)
    best = plan(env, width=width).score
    _remembered[key] = (rnd, best)
    while len(_remembered) > _MAX_REMEMBERED:
        _remembered.popitem(last=False)
    return rnd, best


def references(catalog: Catalog | str, task_id: str, seeds: Iterable[int], *, width: int = DEFAULT_WIDTH,
               on_seed: Callable[[int, int], None] | None = None) -> References:
    """The random agent's and the oracle's mean scores on ``seeds``; ``on_seed(done, total)``
    after each seed (progress reports, and the chance to cancel)."""
    env = PolypharmacyEnv(catalog)
    seeds = list(seeds)
    pairs = []
    for seed in seeds:
        pairs.append(seed_references(env.catalog, task_id, seed, width=width, env=env))
        if on_seed is not None:
            on_seed(len(pairs), len(seeds))
    if not pairs:
        raise ValueError("references need at least one seed.")
    return References(random=statistics.fmean(p[0] for p in pairs), oracle=statistics.fmean(p[1] for p in pairs),
                      episodes=len(pairs), width=width)


def normalised_summary(mean_score: float, refs: References) -> dict[str, Any]:
    """The fields every result with a set's mean score carries beside it."""
    return {"random_score": refs.random, "oracle_score": refs.oracle, "oracle_width": refs.width,
            "normalised_score": refs.normalise(mean_score)}


def normalise_evaluation(evaluation: Evaluation, catalog: Catalog | str, *,
                         on_seed: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """``evaluation.summary()`` with the normalised score and its references (on the
    evaluation's own seeds) beside the mean; ``on_seed`` as for ``references``."""
    seeds = [e.seed for e in evaluation.episodes]
    summary = evaluation.summary()
    if seeds:
        refs = references(catalog, evaluation.task_id, seeds, on_seed=on_seed)
        summary.update(normalised_summary(evaluation.mean, refs))
    return summary


def format_normalised(value: float | None) -> str:
    return format_number(value, "score")
