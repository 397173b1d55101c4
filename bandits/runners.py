"""Job runners for the bandits: train OptimNeuralTS (``bandit_train``), screen with a trained
model (``bandit_screen``).

Each is ``runner(params: dict, ctx) -> result dict`` and imports nothing from Django: ``ctx``
(``jobs.context.JobContext``, or any object with the same methods) reports progress and metrics
(``ctx.progress``), logs (``ctx.log``), gives catalogs (``ctx.catalog``) and the artefact folder
(``ctx.artifact_dir``), and registers the model file (``ctx.add_checkpoint``). ``params`` are
already validated (``bandits.params``)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from bandits.baselines import random_supervised, sequential_random
from bandits.catalog_dataset import CatalogDataset, expected_rr, make_catalog_dataset, pairs_covered
from bandits.datasets import PolypharmacyDataset, make_dataset
from bandits.optimneuralts import OptimNeuralTS, OptimNeuralTSSettings
from bandits.screening import (BanditScorer, checkpoint_payload, flagged_rows, load_scorer, plain_data, save_checkpoint,
                               synthetic_drug_ids)

TOP_FLAGGED = 200  # flagged combinations kept in a training job's result
SCREEN_ROWS = 1_000  # combinations kept (highest bound first) when a screening job scores a whole training set
RANDOM_BASELINE_AUTO_MAX_STEPS = 5_000  # the random-supervised baseline costs one more fit: cheap below this
SERIES_KEYS = ("step", "precision", "recall", "pattern_share", "n_flagged", "n_true_positive", "distinct_pip_pulled",
               "wall_s")


def build_dataset(params: dict[str, Any], catalog: Any = None) -> tuple[PolypharmacyDataset, list[str], list[str],
                                                                        dict[str, Any]]:
    """(dataset, drug ids of its columns, drug names or [], description) for train parameters."""
    ds: PolypharmacyDataset
    meta: dict[str, Any]
    if params["dataset"] == "catalog":
        ds = cds = make_catalog_dataset(catalog, n_combinations=params["n_combinations"], seed=params["seed"],
                                        size_mean=params["mean_size"], size_max=max(12, int(2 * params["mean_size"])))
        meta = {"kind": "catalog", "catalog": cds.catalog_name, "catalog_fingerprint": cds.catalog_fingerprint,
                "generator": cds.generator, "pattern_pairs": [list(p) for p in cds.pattern_pairs],
                "patterns": "the catalog's severe interacting pairs (each also a two-drug combination)"}
        drug_ids, names = cds.drug_ids, cds.drug_names
    else:
        generator = {"kind": params["dataset"], "n_drugs": params["n_drugs"], "n_combinations": params["n_combinations"],
                     "n_patterns": params["n_patterns"], "drug_prob": params["mean_size"] / params["n_drugs"],
                     "adj_mode": params["adj_mode"], "seed": params["seed"]}
        ds = make_dataset(**generator)
        meta = {"kind": params["dataset"], "catalog": "", "generator": generator,
                "patterns": "planted dangerous patterns (rows of the data)"}
        drug_ids, names = synthetic_drug_ids(ds.n_drugs), []
    meta.update(n_combinations=ds.n_combinations, n_drugs=ds.n_drugs, n_patterns=int(len(ds.pattern_index)),
                n_pip=int(ds.pip.sum()), pip_share=float(ds.pip.mean()), pip_threshold=ds.pip_threshold)
    return ds, list(drug_ids), list(names), meta


def _r(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}"


def _settings(params: dict[str, Any]) -> OptimNeuralTSSettings:
    return OptimNeuralTSSettings(hidden=params["hidden"], warmup=params["warmup"], total_steps=params["total_steps"],
                                 warmup_epochs=params["warmup_epochs"], bandit_epochs=params["bandit_epochs"],
                                 train_every=params["train_every"], flag_every=params["flag_every"],
                                 sampling=params.get("sampling", "uniform"), seed=params["seed"])


def _with_truth(rows: list[dict[str, Any]], ds_rr: np.ndarray, ds_pip: np.ndarray) -> list[dict[str, Any]]:
    for row in rows:
        row["true_rr"] = float(ds_rr[row["index"]])
        row["pip"] = bool(ds_pip[row["index"]])
    return rows


def run_bandit_train(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Build the dataset, run OptimNeuralTS (a metrics point for the plots at every flagging
    round), save the model with its training data as a ``bandit`` checkpoint, run the random
    baselines at the same budget. Progress: dataset 0–5 %, bandit 5–90 %, baselines 90–100 %."""
    catalog = ctx.catalog(params["catalog"]) if params["dataset"] == "catalog" else None
    ctx.progress(0.0, "building the dataset", force=True)
    ds, drug_ids, names, meta = build_dataset(params, catalog)
    ctx.log(f"dataset {meta['kind']}{' (' + meta['catalog'] + ')' if meta['catalog'] else ''}: "
            f"{ds.n_combinations} combinations of {ds.n_drugs} drugs, {meta['n_pip']} PIPs "
            f"({meta['pip_share']:.1%}), {meta['n_patterns']} patterns")
    settings = _settings(params)
    algo = OptimNeuralTS(ds.X, ds.rr, settings, pip=ds.pip, pattern_index=ds.pattern_index)
    total = settings.total_steps
    ctx.progress(0.05, f"warm-up: {min(settings.warmup, total)} random pulls, {settings.warmup_epochs} epochs",
                 force=True)

    flagged_so_far = [0]

    def on_round(step: int, m: dict[str, Any]) -> None:
        point = {k: m[k] for k in SERIES_KEYS if k in m}
        if isinstance(ds, CatalogDataset):
            point["severe_pairs_covered"] = pairs_covered(ds.X[algo.flags], ds.patterns)
        point = plain_data(point)
        flagged_so_far[0] = m["n_flagged"]
        ctx.progress(0.05 + 0.85 * step / total, f"step {step}/{total}: {m['n_flagged']} flagged", point)

    def on_step(step: int) -> None:
        # Every pull: the bar moves between flagging rounds (a round can be minutes apart at the
        # paper's settings); ctx.progress writes at most twice a second, and this is also where
        # a cancellation is noticed.
        ctx.progress(0.05 + 0.85 * step / total, f"step {step}/{total}: {flagged_so_far[0]} flagged so far")

    run = algo.run(callback=on_round, on_step=on_step)
    final = plain_data(algo.metrics())
    ctx.log(f"{total} steps in {run.wall_s:.1f} s: {final['n_flagged']} flagged, precision {_r(final['precision'])}, "
            f"recall {_r(final['recall'])}, pattern share {_r(final['pattern_share'])}")

    baselines: dict[str, Any] = {}
    _, baselines["sequential_random"] = sequential_random(ds, total, seed=settings.seed,
                                                          reward_noise=settings.reward_noise,
                                                          threshold=settings.flag_threshold)
    wanted = params["random_baseline"]
    if wanted == "yes" or (wanted == "auto" and total <= RANDOM_BASELINE_AUTO_MAX_STEPS):
        ctx.progress(0.92, "random-supervised baseline (same budget)", force=True)
        _, baselines["random_supervised"] = random_supervised(ds, settings)
    baselines = plain_data(baselines)

    name = params.get("checkpoint_name") or f"bandit-{meta['catalog'] or meta['kind']}-s{settings.seed}-job{ctx.job_id}"
    summary = {"final": final, "dataset": meta, "settings": plain_data(asdict(settings)), "steps": algo.step,
               "history": plain_data(run.history), "baselines": baselines}
    payload = checkpoint_payload(algo, ds, drug_ids=drug_ids, drug_names=names, dataset_meta=meta, metrics=summary)
    path = save_checkpoint(Path(ctx.artifact_dir) / "bandit.pt", payload)
    ctx.add_checkpoint("bandit", path, name=name, catalog=meta["catalog"], metrics=summary)

    scorer = BanditScorer(payload)
    idx = np.flatnonzero(algo.flags)
    X_flagged = ds.X[idx]
    rows = flagged_rows(scorer, X_flagged, scorer.score(X_flagged), limit=TOP_FLAGGED, only_flagged=False, index=idx)
    return {
        "checkpoint": name, **summary, "n_flagged": int(len(idx)),
        "flagged": plain_data(_with_truth(rows, ds.rr, ds.pip)),
        "wall_time_s": run.wall_s, "bandit_wall_s": run.bandit_wall_s,
        "threshold": settings.flag_threshold, "z": settings.flag_z,
    }


def _known_rr(scorer: BanditScorer, X: np.ndarray, ctx: Any) -> tuple[np.ndarray, list[str | None]]:
    """What is known of each combination's RR: its value in the training data when the model
    saw it there; else, for a catalog model, the catalog's rule-based RR (``expected_rr``, the
    training data's formula without its noise, from the catalog as it is now); else nothing (nan)."""
    known = np.full(len(X), np.nan)
    source: list[str | None] = [None] * len(X)
    at = scorer.training_index(X)
    seen = at >= 0
    known[seen] = scorer.dataset["rr"].numpy()[at[seen]]
    for i in np.flatnonzero(seen):
        source[i] = "training data"
    name = scorer.dataset.get("catalog")
    if name and not seen.all():
        try:
            catalog = ctx.catalog(name)
        except LookupError:  # the catalog was removed since: only the training data is known
            ctx.log(f"catalog {name!r} is not loaded: the known RR is the training data's only")
            return known, source
        rest = np.flatnonzero(~seen)
        known[rest] = expected_rr(catalog, scorer.drug_ids, X[rest])
        for i in rest:
            source[i] = "catalog rules"
    return known, source


def _r6(value: Any) -> float | None:
    value = float(value)
    return round(value, 6) if np.isfinite(value) else None


def _given_rows(scorer: BanditScorer, X: np.ndarray, scores: Any, ctx: Any) -> list[dict[str, Any]]:
    """Every given combination, in the order given: its drugs (ids), μ, σ, bound, flag, known RR.
    Six decimals are enough (the network computes in float32) and keep 10,000 rows near 2 MB."""
    known, source = _known_rr(scorer, X, ctx)
    return [{"drugs": scorer.drugs_of(X[i]), "predicted_rr": _r6(scores.mu[i]), "sigma": _r6(scores.sigma[i]),
             "lower_bound": _r6(scores.lower[i]), "flagged": bool(scores.flagged[i]), "known_rr": _r6(known[i]),
             "known_rr_from": source[i]} for i in range(len(X))]


def run_bandit_screen(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Score combinations with a trained model. Given combinations: every one of them in the
    result (``combinations``, in the order given) with μ, σ, bound μ − zσ, flag and known RR.
    The model's whole training set (``"all"``, up to 200,000): precision and recall against the
    known RR, 101 quantiles of the scores and the top SCREEN_ROWS by bound (``top``)."""
    ctx.progress(0.0, f"loading model {params['checkpoint']}", force=True)
    scorer = load_scorer(ctx.model_file(params["checkpoint"]))
    t0 = time.perf_counter()
    every = params["combinations"] == "all"
    if every:
        X = scorer.dataset_X()
        source = "the model's training combinations"
    else:
        X, problems = scorer.encode(params["combinations"])
        if problems:
            raise ValueError(f"combinations[{problems[0].index}]: {problems[0].message}")
        source = "the given combinations"
    ctx.log(f"screening {len(X)} combinations ({source}) with {params['checkpoint']}")
    scores = scorer.score(X)
    n_flag = int(scores.flagged.sum())
    result: dict[str, Any] = {
        "checkpoint": params["checkpoint"], "source": source, "n": int(len(X)), "n_flagged": n_flag,
        "threshold": scorer.threshold, "z": scorer.z, "catalog": scorer.dataset.get("catalog") or None, "truth": None,
    }
    if every:
        ctx.progress(0.8, "ranking the combinations", force=True)
        pip, rr = scorer.dataset["pip"].numpy(), scorer.dataset["rr"].numpy()
        tp = int((scores.flagged & pip).sum())
        result["truth"] = {"n_pip": int(pip.sum()), "n_true_positive": tp, "precision": tp / n_flag if n_flag else None,
                           "recall": tp / max(int(pip.sum()), 1), "training_flags": int(scorer.train_flags.sum())}
        result["top"] = _with_truth(flagged_rows(scorer, X, scores, limit=SCREEN_ROWS, only_flagged=False), rr, pip)
        # A compact picture of all the scores: 101 quantiles of mu and of the bound (0, 1, …, 100 %).
        qs = np.linspace(0, 100, 101)
        result["quantiles"] = {"mu": np.percentile(scores.mu, qs).tolist(),
                               "lower_bound": np.percentile(scores.lower, qs).tolist()}
    else:
        ctx.progress(0.8, "looking up the known relative risks", force=True)
        result["combinations"] = _given_rows(scorer, X, scores, ctx)
        used = sorted({d for row in result["combinations"] for d in row["drugs"]})
        result["drug_names"] = {d: scorer.name_of(d) for d in used} if scorer.drug_names else {}
    result["wall_time_s"] = time.perf_counter() - t0
    return plain_data(result)
