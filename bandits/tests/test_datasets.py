from typing import Any

import numpy as np

from bandits.datasets import PolypharmacyDataset, hamming, make_dataset
from bandits.metrics import flag_metrics


def _small(**kw: Any) -> PolypharmacyDataset:
    args: dict[str, Any] = dict(n_drugs=100, n_combinations=3000, n_patterns=3, drug_prob=0.03, seed=0)
    args.update(kw)
    return make_dataset("protective", **args)


def test_deterministic_for_seed():
    a, b = _small(), _small()
    assert np.array_equal(a.X, b.X) and np.array_equal(a.rr, b.rr)
    assert np.array_equal(a.patterns, b.patterns) and np.array_equal(a.pip, b.pip)
    c = _small(seed=1)
    assert not np.array_equal(a.X, c.X)


def test_rows_distinct_nonempty_and_patterns_present():
    ds = _small()
    assert ds.X.shape == (3000, 100) and ds.X.dtype == np.uint8
    assert ds.X.any(axis=1).all()
    assert len(np.unique(ds.X, axis=0)) == len(ds.X)
    assert (ds.pattern_index >= 0).all()
    assert np.array_equal(ds.X[ds.pattern_index], ds.patterns)
    assert (ds.rr >= 0).all()
    assert np.array_equal(ds.pip, ds.rr > 1.1)


def test_rr_model_and_pip_rate():
    ds = _small()
    dist = hamming(ds.X, ds.patterns)
    nearest = dist.argmin(1)
    shared = (ds.X.astype(int) @ ds.patterns.T.astype(int))[np.arange(len(ds.X)), nearest]
    no = shared == 0
    # protective: non-overlapping ~ N(0.15, 0.1) clipped at 0 -> never a PIP
    assert abs(np.median(ds.rr[no]) - 0.15) < 0.03
    assert not ds.pip[no].any()
    # patterns themselves keep their RR (decay mode, distance 0) -> PIPs
    assert ds.pip[ds.pattern_index].all()
    assert 0.01 < ds.pip.mean() < 0.2
    neutral = make_dataset("neutral", n_drugs=100, n_combinations=3000, n_patterns=3, drug_prob=0.03, seed=0)
    shared_n = (neutral.X.astype(int) @ neutral.patterns.T.astype(int))[np.arange(3000), neutral.nearest_pattern]
    rr_no = neutral.rr[shared_n == 0]
    assert abs(np.median(rr_no) - 1.0) < 0.02 and 0.03 < rr_no.std() < 0.07


def _overlap_residuals(ds, adj):
    """rr minus its expected mean (pattern RR - adj) for combinations that overlap their nearest
    pattern without being it."""
    dist = hamming(ds.X, ds.patterns)[np.arange(len(ds.X)), ds.nearest_pattern]
    shared = (ds.X.astype(int) @ ds.patterns.T.astype(int))[np.arange(len(ds.X)), ds.nearest_pattern]
    near = (shared > 0) & (dist > 0)
    return ds.rr[near] - (ds.pattern_rr[ds.nearest_pattern[near]] - adj[near])


def test_decay_adjustment_is_distance_over_drug_count():
    """The authors' intended formula: adj = Hamming distance / (|combination| + |pattern|)."""
    ds = _small()
    dist = hamming(ds.X, ds.patterns)[np.arange(len(ds.X)), ds.nearest_pattern]
    adj = dist / (ds.X.sum(1) + ds.patterns.sum(1)[ds.nearest_pattern])
    resid = _overlap_residuals(ds, adj)
    assert len(resid) > 100 and abs(resid.mean()) < 0.02 and 0.08 < resid.std() < 0.12
    assert np.array_equal(ds.rr[ds.pattern_index], ds.pattern_rr)  # exact matches: the pattern's RR


def test_authors_adjustment_is_bug_compatible():
    """Their generator looked the ratio up by pattern number: everything nearest to pattern k gets
    the ratio of combination row k (1.0 when row k shares nothing with its own nearest pattern)."""
    ds = _small(adj_mode="authors")
    dist = hamming(ds.X, ds.patterns)[np.arange(len(ds.X)), ds.nearest_pattern]
    row_ratio = dist / (ds.X.sum(1) + ds.patterns.sum(1)[ds.nearest_pattern])
    per_pattern = np.array([row_ratio[k] for k in range(len(ds.patterns))])
    assert (per_pattern == 1.0).sum() >= 1  # rows 0..2 are mostly disjoint from their pattern
    resid = _overlap_residuals(ds, per_pattern[ds.nearest_pattern])
    assert len(resid) > 100 and abs(resid.mean()) < 0.02 and 0.08 < resid.std() < 0.12
    decay = _small()
    assert np.array_equal(ds.X, decay.X) and not np.array_equal(ds.rr, decay.rr)


def test_full_size_rate():
    ds = make_dataset("protective", n_combinations=20_000, seed=3)
    assert abs(ds.X.sum(1).mean() - 8.7) < 0.2
    assert len(np.unique(ds.X, axis=0)) == 20_000


def test_metrics():
    pip = np.array([1, 1, 0, 0, 1], dtype=bool)
    m = flag_metrics(np.array([0, 2]), pip, np.array([0, 4]))
    assert m.n_flagged == 2 and m.n_true_positive == 1
    assert m.precision == 0.5 and abs(m.recall - 1 / 3) < 1e-12 and m.pattern_share == 0.5
    assert np.isnan(flag_metrics(np.zeros(5, bool), pip).precision)
