"""Synthetic polypharmacy datasets of the OptimNeuralTS paper (Larouche et al. 2023).

Each row of ``X`` is a distinct, non-empty drug combination (each drug present independently
with probability ``drug_prob``).  ``n_patterns`` dangerous patterns are drawn the same way, each
with a relative risk ``U[pattern_rr_low, pattern_rr_high]``.  A combination's RR depends on its
nearest pattern by Hamming distance:

* it shares no drug with that pattern: ``N(1.0, 0.05)`` ("neutral") or ``N(0.15, 0.1)``
  ("protective");
* it shares drugs: ``N(pattern_rr - adj, 0.1)``, clipped at 0.

The adjustment follows the authors' generator (``create_dataset_combinations.py`` of their
``sim-combi-donnees-massives``): ``adj = d / (|c| + |p|)``, the Hamming distance to the nearest
pattern over the drug count of combination and pattern together, so it grows with the distance (an
exact match keeps the pattern's RR, noiseless, as in their code).  ``adj_mode="decay"`` (default)
is that intended formula.  ``adj_mode="authors"`` is bug-compatible: their code looked the ratio up
with the nearest pattern's *number* as a combination index, so every combination near pattern ``k``
got the ratio of combination row ``k``, which is 1.0 unless that row itself overlaps its nearest
pattern.  ``adj_max`` scales either.

A combination is a PIP (potentially inappropriate polypharmacy) when ``rr > pip_threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_OVERLAP = {"neutral": (1.0, 0.05), "protective": (0.15, 0.1)}
ADJ_MODES = ("decay", "authors")


@dataclass
class PolypharmacyDataset:
    X: np.ndarray  # (n_combinations, n_drugs) uint8 0/1
    rr: np.ndarray  # (n_combinations,) float64 relative risk
    patterns: np.ndarray  # (n_patterns, n_drugs) uint8
    pattern_rr: np.ndarray  # (n_patterns,)
    pip: np.ndarray  # (n_combinations,) bool, rr > pip_threshold
    nearest_pattern: np.ndarray  # (n_combinations,) int
    pattern_index: np.ndarray  # (n_patterns,) row of X equal to the pattern, -1 if absent
    kind: str
    seed: int
    pip_threshold: float = 1.1

    @property
    def n_combinations(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_drugs(self) -> int:
        return int(self.X.shape[1])


# Rows drawn and compared per numpy call. The heaviest allowed dataset (200,000 combinations of
# 2,000 drugs) was drawn as one (240,016 × 2,000) float64 array: 3.8 GB and one C call of many
# seconds that nothing could interrupt (a cancelled job waited for it). In chunks the values are
# the same (the generator's stream does not depend on how it is cut) and so is the dataset.
CHUNK_ROWS = 8_192


def _distinct_rows(
    rng: np.random.Generator, n: int, n_drugs: int, p: float, exclude: np.ndarray | None = None
) -> np.ndarray:
    """``n`` distinct non-empty Bernoulli(p) rows (and none equal to a row of ``exclude``)."""
    seen: set[bytes] = set()
    if exclude is not None:
        seen.update(np.packbits(exclude, axis=1)[i].tobytes() for i in range(len(exclude)))
    out: list[np.ndarray] = []
    while len(out) < n:
        need = n - len(out)
        size = int(need * 1.2) + 16
        # The whole draw is made even when the rows already found suffice, so the stream
        # stays where one draw of ``size`` rows would leave it.
        chunks = [(rng.random((min(CHUNK_ROWS, size - i), n_drugs)) < p).astype(np.uint8)
                  for i in range(0, size, CHUNK_ROWS)]
        for batch in chunks:
            keep_distinct(batch[batch.any(axis=1)], seen, out, n)
    return np.stack(out).astype(np.uint8)


def keep_distinct(rows: np.ndarray, seen: set[bytes], out: list[np.ndarray], n: int) -> None:
    """Append to ``out`` the rows not seen before (by their packed bits), up to ``n`` in all."""
    for row, key in zip(rows, np.packbits(rows, axis=1)):
        k = key.tobytes()
        if k in seen:
            continue
        seen.add(k)
        out.append(row)
        if len(out) == n:
            break


def shared_counts(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Drugs each row of A (n, d) shares with each row of B (m, d), as int64 (n, m), A in chunks
    of CHUNK_ROWS rows. float32 products are exact here (sums of 0/1 products below 2**24) and
    go through BLAS; an int32 matmul of the heaviest dataset was one uninterruptible minute."""
    b = B.astype(np.float32).T
    out = np.empty((len(A), len(B)), dtype=np.int64)
    for i in range(0, len(A), CHUNK_ROWS):
        out[i:i + CHUNK_ROWS] = np.rint(A[i:i + CHUNK_ROWS].astype(np.float32) @ b)
    return out


def hamming(A: np.ndarray, B: np.ndarray, shared: np.ndarray | None = None) -> np.ndarray:
    """Pairwise Hamming distances between 0/1 rows of A (n, d) and B (m, d), as int64 (n, m)
    (``shared``: ``shared_counts(A, B)`` when the caller has it already)."""
    shared = shared_counts(A, B) if shared is None else shared
    return A.sum(1, dtype=np.int64)[:, None] + B.sum(1, dtype=np.int64)[None, :] - 2 * shared


def make_dataset(
    kind: str = "protective",
    *,
    n_drugs: int = 500,
    n_combinations: int = 100_000,
    n_patterns: int = 10,
    drug_prob: float = 8.7 / 500,
    pattern_rr_low: float = 2.0,
    pattern_rr_high: float = 3.0,
    adj_mode: str = "decay",
    adj_max: float = 1.0,
    overlap_std: float = 0.1,
    include_patterns: bool = True,
    pip_threshold: float = 1.1,
    seed: int = 0,
) -> PolypharmacyDataset:
    """Generate a dataset; deterministic for a given ``seed``.

    ``include_patterns`` puts each pattern itself among the combinations (so "share of patterns
    flagged" is measurable); the total stays ``n_combinations``.
    """
    if kind not in NO_OVERLAP:
        raise ValueError(f"kind must be one of {sorted(NO_OVERLAP)}, not {kind!r}")
    if adj_mode not in ADJ_MODES:
        raise ValueError(f"adj_mode must be one of {ADJ_MODES}, not {adj_mode!r}")
    if include_patterns and n_patterns > n_combinations:
        raise ValueError("n_patterns > n_combinations")
    rng = np.random.default_rng(seed)
    patterns = _distinct_rows(rng, n_patterns, n_drugs, drug_prob)
    pattern_rr = rng.uniform(pattern_rr_low, pattern_rr_high, size=n_patterns)
    n_other = n_combinations - (n_patterns if include_patterns else 0)
    others = _distinct_rows(rng, n_other, n_drugs, drug_prob, exclude=patterns)
    if include_patterns:
        X = np.concatenate([patterns, others])
        perm = rng.permutation(n_combinations)
        X = X[perm]
        pattern_index = np.argsort(perm)[:n_patterns]
    else:
        X = others
        pattern_index = np.full(n_patterns, -1, dtype=np.int64)

    shared_all = shared_counts(X, patterns)
    dist = hamming(X, patterns, shared_all)
    nearest = dist.argmin(axis=1)
    d_near = dist[np.arange(len(X)), nearest]
    shared = shared_all[np.arange(len(X)), nearest]
    overlap = shared > 0

    mu0, sd0 = NO_OVERLAP[kind]
    rr = rng.normal(mu0, sd0, size=len(X))
    ratio = d_near / (X.sum(1).astype(np.int64) + patterns.sum(1).astype(np.int64)[nearest])
    # "authors": the ratio of combination row k for everything nearest to pattern k (their indexing)
    adj = adj_max * (ratio if adj_mode == "decay" else ratio[nearest])
    rr_overlap = rng.normal(pattern_rr[nearest] - adj, overlap_std)
    rr = np.where(overlap, rr_overlap, rr)
    rr = np.where(d_near == 0, pattern_rr[nearest], rr)
    rr = np.clip(rr, 0.0, None)
    return PolypharmacyDataset(
        X=X,
        rr=rr,
        patterns=patterns,
        pattern_rr=pattern_rr,
        pip=rr > pip_threshold,
        nearest_pattern=nearest,
        pattern_index=np.asarray(pattern_index, dtype=np.int64),
        kind=kind,
        seed=seed,
        pip_threshold=pip_threshold,
    )
