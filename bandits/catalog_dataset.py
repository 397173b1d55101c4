"""A polypharmacy dataset made of our catalog's drugs, so that screening speaks about real drugs.

Each row of ``X`` is a distinct combination of the catalog's drugs (columns = ``drug_ids``,
sorted).  A combination has ``k = 2 + Poisson(size_mean - 2)`` drugs (clipped to
``[2, size_max]``), drawn uniformly without replacement.  Its relative risk comes from the
catalog's own knowledge, the same ingredients as the environment's regimen risk
(``envcore.risk``)::

    RR(c) = 1
          + Σ over interacting pairs {a, b} ⊂ c   SEVERITY_SCALE[severity] · base_risk_score
          + BEERS_SCALE · Σ over drugs a ∈ c, Beers criteria of a   BEERS_WEIGHTS[type] · applies
          + ε,  ε ~ N(0, noise_std),  clipped at 0

with ``applies = 1`` for a criterion that holds whatever the patient's conditions and
``CONDITION_PREVALENCE`` for one tied to a condition (a combination has no patient, so such a
criterion counts at the chance that the condition is present).  ``BEERS_WEIGHTS`` are the
environment's (avoid .30, caution .12, dose_adjust .10, avoid_in_condition .25).

Why these scales: one severe pair (base risk 0.75–0.92) makes a combination a PIP on its own
(RR ≈ 1.8); one moderate pair (0.45 → +0.045) does not, nor do two alone (1.09), but two with a
Beers "avoid" drug (+0.015 each) do; Beers flags alone need many drugs to cross the line.  A
combination is a PIP when ``RR > pip_threshold`` (1.1, as in the paper).  With the default size
(5 drugs) about 18 % of classic and 26 % of curated combinations are PIPs, mostly through a
severe pair (15 %); ``noise_std`` (0.02) decides only the combinations within a few hundredths
of the threshold.

"Patterns" are the catalog's severe interacting pairs: each is also put in the data as a
two-drug combination (the total stays ``n_combinations``), so the paper's "share of patterns
flagged" reads here as the share of dangerous pairs the model found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bandits.datasets import PolypharmacyDataset, hamming, keep_distinct

SEVERITY_SCALE = {"severe": 1.0, "moderate": 0.1, "mild": 0.03}
BEERS_SCALE = 0.05
# The environment's Beers weights (envcore.risk.BEERS_WEIGHTS), repeated so that this module needs
# only the catalog object; a test checks that the two agree.
BEERS_WEIGHTS = {"avoid": 0.30, "caution": 0.12, "dose_adjust": 0.10, "avoid_in_condition": 0.25}
CONDITION_PREVALENCE = 0.5
PATTERN_SEVERITIES = ("severe",)


@dataclass
class CatalogDataset(PolypharmacyDataset):
    """A ``PolypharmacyDataset`` whose columns are catalog drugs (``drug_ids[j]`` is column j)."""

    drug_ids: list[str] = field(default_factory=list)
    drug_names: list[str] = field(default_factory=list)
    catalog_name: str = ""
    catalog_fingerprint: str = ""
    pattern_pairs: list[tuple[str, str]] = field(default_factory=list)  # pattern p = pattern_pairs[p]
    generator: dict[str, Any] = field(default_factory=dict)  # the arguments that rebuild it

    def combination_drugs(self, row: int) -> list[str]:
        return [self.drug_ids[j] for j in np.flatnonzero(self.X[row])]


def risk_terms(catalog: Any, drug_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(pair weights W (d, d), upper triangle only; per-drug Beers weights v (d,)) so that
    ``RR - 1 = x·W·x + v·x`` for a multi-hot row ``x`` (before noise). Rules and criteria about
    drugs outside ``drug_ids`` are left out (a model's drugs, scored against a catalog since
    grown, say)."""
    col = {d: j for j, d in enumerate(drug_ids)}
    W = np.zeros((len(drug_ids), len(drug_ids)))
    for rule in catalog.rules.values():
        if rule.drug_id_1 in col and rule.drug_id_2 in col:
            i, j = sorted((col[rule.drug_id_1], col[rule.drug_id_2]))
            W[i, j] += SEVERITY_SCALE[rule.severity] * rule.base_risk_score
    v = np.zeros(len(drug_ids))
    for crit in catalog.beers:
        if crit.drug_id in col:
            applies = 1.0 if crit.condition is None else CONDITION_PREVALENCE
            v[col[crit.drug_id]] += BEERS_SCALE * BEERS_WEIGHTS[crit.criterion_type] * applies
    return W, v


def expected_rr(catalog: Any, drug_ids: list[str], X: np.ndarray) -> np.ndarray:
    """The catalog's RR of each multi-hot row of ``X`` (columns ``drug_ids``), without the noise."""
    W, v = risk_terms(catalog, drug_ids)
    Xf = np.asarray(X, dtype=np.float64)
    return 1.0 + ((Xf @ W) * Xf).sum(axis=1) + Xf @ v


def severe_pairs(catalog: Any) -> list[tuple[str, str]]:
    """The catalog's dangerous pairs (severity in PATTERN_SEVERITIES), sorted."""
    return sorted(key for key, rule in catalog.rules.items() if rule.severity in PATTERN_SEVERITIES)


def _random_combinations(rng: np.random.Generator, n: int, n_drugs: int, size_mean: float, size_max: int,
                         seen: set[bytes]) -> np.ndarray:
    """``n`` distinct multi-hot rows (none in ``seen``), of sizes 2 + Poisson(size_mean - 2)."""
    out: list[np.ndarray] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 1000:
            raise ValueError(f"Could not draw {n} distinct combinations of {n_drugs} drugs with mean size "
                             f"{size_mean}: ask for fewer combinations or larger ones.")
        batch = int((n - len(out)) * 1.2) + 16
        sizes = np.clip(2 + rng.poisson(size_mean - 2, size=batch), 2, size_max)
        # k drugs without replacement per row, vectorised: the k smallest of uniform keys.
        ranks = rng.random((batch, n_drugs)).argsort(axis=1).argsort(axis=1)
        keep_distinct((ranks < sizes[:, None]).astype(np.uint8), seen, out, n)
    return np.stack(out)


def make_catalog_dataset(catalog: Any, *, n_combinations: int = 20_000, seed: int = 0, size_mean: float = 5.0,
                         size_max: int = 12, noise_std: float = 0.02, pip_threshold: float = 1.1,
                         include_patterns: bool = True) -> CatalogDataset:
    """Combinations of ``catalog``'s drugs with the RR above; deterministic for a given seed and
    catalog content.  ``catalog`` is an ``envcore.catalog.Catalog`` (or anything with its
    ``drugs``, ``rules``, ``beers``, ``name`` and ``fingerprint``)."""
    drug_ids = sorted(catalog.drugs)
    d = len(drug_ids)
    if d < 2:
        raise ValueError("The catalog needs at least two drugs.")
    if not 2.0 <= size_mean <= d:
        raise ValueError(f"size_mean must be between 2 and the number of drugs ({d}).")
    size_max = min(int(size_max), d)
    col = {dr: j for j, dr in enumerate(drug_ids)}
    pairs = severe_pairs(catalog)
    patterns = np.zeros((len(pairs), d), dtype=np.uint8)
    for p, (a, b) in enumerate(pairs):
        patterns[p, [col[a], col[b]]] = 1
    n_fixed = len(pairs) if include_patterns else 0
    if n_combinations <= n_fixed:
        raise ValueError(f"n_combinations must exceed the catalog's {n_fixed} severe pairs.")

    rng = np.random.default_rng(seed)
    seen = {np.packbits(p).tobytes() for p in patterns}
    others = _random_combinations(rng, n_combinations - n_fixed, d, size_mean, size_max, seen)
    if include_patterns:
        X = np.concatenate([patterns, others])
        perm = rng.permutation(n_combinations)
        X = X[perm]
        pattern_index = np.argsort(perm)[: len(pairs)].astype(np.int64)
    else:
        X = others
        pattern_index = np.full(len(pairs), -1, dtype=np.int64)

    expected = expected_rr(catalog, drug_ids, X)
    rr = np.clip(expected + rng.normal(0.0, noise_std, size=len(X)), 0.0, None)
    nearest = hamming(X, patterns).argmin(axis=1) if len(pairs) else np.full(len(X), -1, dtype=np.int64)
    pattern_rr = rr[pattern_index] if include_patterns else expected_rr(catalog, drug_ids, patterns)
    return CatalogDataset(
        X=X, rr=rr, patterns=patterns, pattern_rr=np.asarray(pattern_rr, dtype=np.float64), pip=rr > pip_threshold,
        nearest_pattern=np.asarray(nearest, dtype=np.int64), pattern_index=pattern_index,
        kind="catalog", seed=seed, pip_threshold=pip_threshold,
        drug_ids=drug_ids, drug_names=[catalog.drugs[x].generic_name for x in drug_ids],
        catalog_name=str(catalog.name), catalog_fingerprint=str(getattr(catalog, "fingerprint", "")),
        pattern_pairs=pairs,
        generator={"n_combinations": n_combinations, "seed": seed, "size_mean": size_mean, "size_max": size_max,
                   "noise_std": noise_std, "pip_threshold": pip_threshold, "include_patterns": include_patterns},
    )


def pairs_covered(X_flagged: np.ndarray, patterns: np.ndarray) -> float:
    """Share of the pattern pairs that lie inside at least one flagged combination (a looser
    reading of "found" than the pattern row itself being flagged); nan without patterns."""
    if not len(patterns):
        return float("nan")
    if not len(X_flagged):
        return 0.0
    Xf = np.asarray(X_flagged, dtype=np.float32)
    co = Xf.T @ Xf  # co[i, j] > 0: drugs i and j appear together in some flagged combination
    ij = np.array([np.flatnonzero(p)[:2] for p in patterns])
    return float(np.mean(co[ij[:, 0], ij[:, 1]] > 0))
