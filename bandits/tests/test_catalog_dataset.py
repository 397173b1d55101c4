"""The catalog-derived dataset: real drugs as columns, RR from the catalog's rules and Beers
criteria by the documented formula, severe pairs as patterns; seeded and deterministic."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pytest

from bandits.catalog_dataset import (BEERS_SCALE, BEERS_WEIGHTS, CONDITION_PREVALENCE, SEVERITY_SCALE,
                                     CatalogDataset, make_catalog_dataset, pairs_covered, severe_pairs)
from bandits.datasets import PolypharmacyDataset
from envcore.catalog import Catalog
from envcore.risk import BEERS_WEIGHTS as ENV_BEERS_WEIGHTS


@pytest.fixture(scope="module")
def classic() -> Catalog:
    return Catalog.load("classic")


def _small(catalog: Catalog, **kw: Any) -> CatalogDataset:
    args: dict[str, Any] = dict(n_combinations=2000, seed=0)
    args.update(kw)
    return make_catalog_dataset(catalog, **args)


def test_it_is_deterministic_for_a_seed_and_differs_across_seeds(classic: Catalog) -> None:
    a, b, c = _small(classic), _small(classic), _small(classic, seed=1)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.rr, b.rr) and np.array_equal(a.pip, b.pip)
    assert np.array_equal(a.pattern_index, b.pattern_index)
    assert not np.array_equal(a.X, c.X)


def test_its_columns_are_the_catalogs_drugs_and_its_rows_distinct_combinations(classic: Catalog) -> None:
    ds = _small(classic)
    assert isinstance(ds, PolypharmacyDataset)
    assert ds.drug_ids == sorted(classic.drugs) and ds.n_drugs == len(classic.drugs)
    assert ds.drug_names[ds.drug_ids.index("DRUG_WARFARIN")] == classic.drugs["DRUG_WARFARIN"].generic_name
    assert ds.X.shape == (2000, len(classic.drugs)) and ds.X.dtype == np.uint8
    assert (ds.X.sum(axis=1) >= 2).all()
    assert len(np.unique(ds.X, axis=0)) == len(ds.X)
    assert ds.catalog_name == "classic" and ds.catalog_fingerprint == classic.fingerprint
    assert set(ds.combination_drugs(0)) <= set(classic.drugs)


def test_the_mean_combination_size_follows_size_mean(classic: Catalog) -> None:
    # (Far below 4 the 561 distinct pairs of 34 drugs run out, and the mean drifts up.)
    for size in (4.0, 6.0):
        ds = _small(classic, size_mean=size, include_patterns=False)
        assert abs(ds.X.sum(axis=1).mean() - size) < 0.15


def test_the_rr_is_the_documented_sum_of_rule_and_beers_terms(classic: Catalog) -> None:
    ds = _small(classic, noise_std=0.0, n_combinations=500)
    for row in range(len(ds.X)):
        drugs = ds.combination_drugs(row)
        expected = 1.0
        for a, b in combinations(drugs, 2):
            rule = classic.rule(a, b)
            if rule is not None:
                expected += SEVERITY_SCALE[rule.severity] * rule.base_risk_score
        for drug in drugs:
            for crit in classic.beers_by_drug.get(drug, ()):
                applies = 1.0 if crit.condition is None else CONDITION_PREVALENCE
                expected += BEERS_SCALE * BEERS_WEIGHTS[crit.criterion_type] * applies
        assert ds.rr[row] == pytest.approx(expected, abs=1e-12), drugs
    assert np.array_equal(ds.pip, ds.rr > 1.1)


def test_the_beers_weights_are_the_environments() -> None:
    assert BEERS_WEIGHTS == ENV_BEERS_WEIGHTS


def test_noise_moves_the_rr_by_about_noise_std(classic: Catalog) -> None:
    clean = _small(classic, noise_std=0.0)
    noisy = _small(classic, noise_std=0.02)
    assert np.array_equal(clean.X, noisy.X)
    assert 0.015 < float(np.std(noisy.rr - clean.rr)) < 0.025


def test_every_severe_pair_is_a_pattern_present_as_a_combination_and_a_pip(classic: Catalog) -> None:
    ds = _small(classic)
    pairs = severe_pairs(classic)
    assert ds.pattern_pairs == pairs and len(pairs) == 8
    assert (ds.pattern_index >= 0).all()
    assert np.array_equal(ds.X[ds.pattern_index], ds.patterns)
    for p, (a, b) in enumerate(pairs):
        assert ds.combination_drugs(int(ds.pattern_index[p])) == sorted([a, b])
        rule = classic.rule(a, b)
        assert rule is not None and rule.severity == "severe"
    assert ds.pip[ds.pattern_index].all()


def test_a_severe_pair_makes_a_pip_and_a_plain_combination_does_not(classic: Catalog) -> None:
    ds = _small(classic, noise_std=0.0)
    has_severe = (ds.X.astype(int) @ ds.patterns.T.astype(int) == 2).any(axis=1)
    assert ds.pip[has_severe].all()
    no_rule = np.array([all(classic.rule(a, b) is None for a, b in combinations(ds.combination_drugs(i), 2))
                        for i in range(len(ds.X))])
    no_beers = np.array([not any(d in classic.beers_by_drug for d in ds.combination_drugs(i)) for i in range(len(ds.X))])
    plain = no_rule & no_beers
    assert plain.any() and (ds.rr[plain] == 1.0).all()
    assert 0.05 < ds.pip.mean() < 0.4  # dangerous combinations are a minority


def test_the_curated_catalog_gives_a_dataset_of_its_139_drugs() -> None:
    curated = Catalog.load("curated")
    ds = make_catalog_dataset(curated, n_combinations=1000, seed=3)
    assert ds.n_drugs == len(curated.drugs) and len(ds.pattern_pairs) == len(severe_pairs(curated))
    assert ds.pip[ds.pattern_index].all()


def test_pairs_covered_counts_pairs_inside_a_flagged_combination(classic: Catalog) -> None:
    ds = _small(classic)
    assert pairs_covered(ds.X[:0], ds.patterns) == 0.0
    assert pairs_covered(ds.X[ds.pattern_index], ds.patterns) == 1.0
    one = ds.X[ds.pattern_index[:1]].copy()
    one[0, np.flatnonzero(one[0] == 0)[0]] = 1  # a larger combination holding the first pair
    assert pairs_covered(one, ds.patterns) == pytest.approx(1 / 8)


def test_it_refuses_sizes_it_cannot_draw(classic: Catalog) -> None:
    with pytest.raises(ValueError, match="size_mean"):
        make_catalog_dataset(classic, n_combinations=100, size_mean=100.0)
    with pytest.raises(ValueError, match="severe pairs"):
        make_catalog_dataset(classic, n_combinations=8)
