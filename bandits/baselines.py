"""Baselines at the same pull budget as OptimNeuralTS.

* ``random_supervised``: the whole budget spent on random (noiseless) pulls, one supervised fit,
  then one flagging round ``mu - 3 sigma > threshold`` (OptimNeuralTS with ``warmup = total``).
* ``sequential_random``: pull distinct combinations uniformly at random; flag a pulled combination
  when its observed (noisy) reward exceeds the threshold.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bandits.datasets import PolypharmacyDataset
from bandits.metrics import flag_metrics
from bandits.optimneuralts import OptimNeuralTS, OptimNeuralTSSettings, RunResult


def random_supervised(ds: PolypharmacyDataset, settings: OptimNeuralTSSettings, budget: int | None = None) -> tuple[RunResult, dict]:
    budget = settings.total_steps if budget is None else budget
    s = replace(settings, warmup=budget, total_steps=budget)
    algo = OptimNeuralTS(ds.X, ds.rr, s, pip=ds.pip, pattern_index=ds.pattern_index)
    res = algo.run()
    return res, algo.metrics()


def sequential_random(
    ds: PolypharmacyDataset,
    budget: int,
    *,
    seed: int = 0,
    reward_noise: float = 0.1,
    threshold: float = 1.1,
    replace_pulls: bool = False,
) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    n = ds.n_combinations
    if replace_pulls:
        idx = rng.integers(0, n, size=budget)
    else:
        idx = rng.permutation(n)[: min(budget, n)]
    obs = ds.rr[idx] + rng.normal(0.0, reward_noise, size=len(idx))
    flags = np.zeros(n, dtype=bool)
    flags[idx[obs > threshold]] = True
    m = flag_metrics(flags, ds.pip, ds.pattern_index).as_dict()
    m["distinct_pip_pulled"] = int(ds.pip[np.unique(idx)].sum())
    m["n_pulled_distinct"] = int(len(np.unique(idx)))
    return flags, m
