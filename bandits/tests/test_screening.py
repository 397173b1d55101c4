"""Bandit checkpoints and the scorer behind /bandit/*: the file holds plain data and tensors
only, scores equal the model's own, bad combinations are named, the loaded model is cached."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from bandits.catalog_dataset import make_catalog_dataset
from bandits.optimneuralts import OptimNeuralTS, OptimNeuralTSSettings
from bandits.screening import (FORMAT, cached_scorer, checkpoint_payload, load_scorer, save_checkpoint,
                               scorer_cache_clear, synthetic_drug_ids)
from envcore.catalog import Catalog


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[OptimNeuralTS, object, Path]:
    ds = make_catalog_dataset(Catalog.load("classic"), n_combinations=1000, seed=0)
    settings = OptimNeuralTSSettings(warmup=100, total_steps=130, warmup_epochs=10, bandit_epochs=2, hidden=16,
                                     flag_every=30, device="cpu", seed=0)
    algo = OptimNeuralTS(ds.X, ds.rr, settings, pip=ds.pip, pattern_index=ds.pattern_index)
    algo.run()
    payload = checkpoint_payload(algo, ds, drug_ids=ds.drug_ids, drug_names=ds.drug_names,
                                 dataset_meta={"kind": "catalog", "catalog": "classic"}, metrics=algo.metrics())
    path = save_checkpoint(tmp_path_factory.mktemp("ck") / "bandit.pt", payload)
    return algo, ds, path


def test_a_checkpoint_loads_as_plain_data_without_pickled_code(trained) -> None:
    _, ds, path = trained
    payload = torch.load(str(path), weights_only=True)  # refuses anything but tensors and plain data
    assert payload["format"] == FORMAT and payload["drug_ids"] == ds.drug_ids
    assert payload["metrics"]["precision"] is None or isinstance(payload["metrics"]["precision"], float)


def test_the_scorer_gives_the_models_own_mu_and_sigma(trained) -> None:
    algo, ds, path = trained
    scorer = load_scorer(path)
    s = scorer.score(ds.X[:300])
    mu, sigma = algo.mu_sigma(algo.X[:300])
    np.testing.assert_allclose(s.mu, mu.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.sigma, sigma.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.lower, s.mu - 3.0 * s.sigma, rtol=1e-6)
    assert np.array_equal(s.flagged, s.lower > 1.1)
    assert np.array_equal(scorer.dataset_X(), ds.X)


def test_drug_ids_encode_to_the_training_columns(trained) -> None:
    _, ds, path = trained
    scorer = load_scorer(path)
    combos = [ds.combination_drugs(i) for i in range(50)]
    X, problems = scorer.encode(combos)
    assert problems == [] and np.array_equal(X, ds.X[:50])
    again, _ = scorer.encode([list(reversed(c)) + c[:1] for c in combos])  # order and repeats do not matter
    assert np.array_equal(again, X)


def test_bad_combinations_are_named_with_their_unknown_ids(trained) -> None:
    scorer = load_scorer(trained[2])
    _, problems = scorer.encode([["DRUG_WARFARIN"], "DRUG_WARFARIN", [], ["DRUG_WARFARIN", "DRUG_NOPE", "DRUG_NADA"],
                                 [3]])
    assert [(p.index, p.kind) for p in problems] == [(1, "list_type"), (2, "too_short"), (3, "unknown_drug"),
                                                     (4, "string_type")]
    assert problems[2].unknown == ["DRUG_NOPE", "DRUG_NADA"]
    assert "DRUG_NOPE, DRUG_NADA" in problems[2].message and "catalog 'classic'" in problems[2].message


def test_the_loaded_model_is_cached_until_its_file_changes(trained, tmp_path: Path) -> None:
    scorer_cache_clear()
    path = tmp_path / "bandit.pt"
    path.write_bytes(trained[2].read_bytes())
    first = cached_scorer(path, key=1)
    assert cached_scorer(path, key=1) is first
    assert cached_scorer(path, key=2) is not first  # another checkpoint row, another entry
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert cached_scorer(path, key=1) is not first
    scorer_cache_clear()


def test_synthetic_columns_are_named_d000_and_up() -> None:
    assert synthetic_drug_ids(3) == ["D000", "D001", "D002"]
    assert synthetic_drug_ids(2000)[-1] == "D1999"


def test_the_pure_modules_and_the_runners_import_nothing_from_django() -> None:
    code = ("import sys; import bandits.runners, bandits.screening, bandits.catalog_dataset; "
            "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith(('django.', 'rest_framework', 'jobs')));"
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2], env={"PATH": "", "PYTHONPATH": "."})
    assert done.returncode == 0, done.stdout + done.stderr
