"""Confidence intervals for the mean score of a set of episodes (pure Python: no numpy, scipy
or Django).

A 95 % Student-t interval, mean ± t(0.975, n − 1) · s / √n, because it needs only the mean, the
standard deviation and the number of episodes: every result stored before intervals existed
has those three, so old evaluations get the same interval as new ones. A bootstrap would need
the per-episode scores, which checkpoints' test metrics do not keep.

The standard deviation our results store (``std_score``, ``std_risk_reduction``) is the
*population* one (``statistics.pstdev``, divided by n; see ``agents.evaluate``), while the
interval needs the *sample* one (divided by n − 1): s = σ · √(n / (n − 1)), so the half-width is
t · σ / √(n − 1). Passing a population std as if it were a sample one would make every interval
too narrow, by √((n − 1) / n) (2.5 % at n = 20).

Grader scores lie in [0, 1] and are often skewed; at n ≥ 20 the t interval's coverage is close to
nominal for such bounded scores, and it is what a reader expects next to "mean ± std"."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping

LEVEL = 0.95


@dataclass(frozen=True, slots=True)
class MeanInterval:
    """A mean with its two-sided confidence interval [low, high] over ``n`` episodes."""

    mean: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def as_list(self) -> list[float]:
        """How results store it (JSON): ``[low, high]``."""
        return [self.low, self.high]


def _t_central_probability(t: float, df: int) -> float:
    """P(|T| ≤ t) for Student's t with an integer number of degrees of freedom ``df``.

    The closed forms for integer df (Abramowitz & Stegun 26.7.3-4), with θ = atan(t / √df):
    a finite sum in cos²θ, exact up to rounding, so no special functions are needed."""
    if t <= 0:
        return 0.0
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 0:
        term = total = 1.0
        for j in range(1, df // 2):
            term *= c2 * (2 * j - 1) / (2 * j)
            total += term
        return s * total
    if df == 1:
        return 2 * theta / math.pi
    term = total = math.cos(theta)
    for j in range(1, (df - 1) // 2):
        term *= c2 * (2 * j) / (2 * j + 1)
        total += term
    return 2 / math.pi * (theta + s * total)


@lru_cache(maxsize=512)
def t_critical(df: int, level: float = LEVEL) -> float:
    """The t with P(|T| ≤ t) = ``level`` for ``df`` degrees of freedom (1.96 as df → ∞;
    2.093 for df = 19). Bisection on the exact central probability: 100 halvings reach
    double precision from any bracket used here."""
    if df < 1:
        raise ValueError("a t interval needs at least one degree of freedom (two episodes).")
    if not 0 < level < 1:
        raise ValueError("level must lie strictly between 0 and 1.")
    lo, hi = 0.0, 1.0
    while _t_central_probability(hi, df) < level:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        if _t_central_probability(mid, df) < level:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mean_interval(mean: float | None, std: float | None, n: int | None, *, population_std: bool = True,
                  level: float = LEVEL) -> MeanInterval | None:
    """The Student-t interval of a mean from its std and count; None when it cannot be had (a
    missing number, or fewer than two episodes). ``population_std`` says ``std`` was divided by
    n (what our results store) rather than n − 1."""
    if mean is None or std is None or n is None or n < 2:
        return None
    if not (math.isfinite(mean) and math.isfinite(std)):
        return None
    sample_std = std * math.sqrt(n / (n - 1)) if population_std else std
    half = t_critical(n - 1, level) * sample_std / math.sqrt(n)
    return MeanInterval(mean=mean, low=mean - half, high=mean + half, n=n, level=level)


def values_interval(values: Iterable[float], *, level: float = LEVEL) -> MeanInterval | None:
    """The interval of the mean of ``values`` (their sample std); None for fewer than two."""
    xs = list(values)
    if len(xs) < 2:
        return None
    mean = math.fsum(xs) / len(xs)
    sample_std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
    return mean_interval(mean, sample_std, len(xs), population_std=False, level=level)


def summary_interval(summary: Mapping[str, Any], quantity: str = "score") -> MeanInterval | None:
    """The interval of ``mean_<quantity>`` in a result summary (``agents.evaluate.Evaluation.summary``
    and the training tests built from it): the stored ``<quantity>_ci95`` when the result has
    one, else computed from ``mean_<quantity>``, ``std_<quantity>`` (population) and ``episodes``
    (results stored before intervals were)."""
    mean, n = summary.get(f"mean_{quantity}"), summary.get("episodes")
    stored = summary.get(f"{quantity}_ci95")
    if isinstance(stored, (list, tuple)) and len(stored) == 2 and mean is not None and isinstance(n, int):
        return MeanInterval(mean=float(mean), low=float(stored[0]), high=float(stored[1]), n=n)
    return mean_interval(mean, summary.get(f"std_{quantity}"), n if isinstance(n, int) else None)
