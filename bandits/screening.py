"""Trained OptimNeuralTS models as files, and scoring drug combinations with them (no Django).

A bandit checkpoint is one ``torch.save`` file of plain data and tensors only, so that the web
process loads it with ``torch.load(weights_only=True)`` (no pickled code runs)::

    format         "polypharmacy-bandit/1"
    state_dict     the network (Linear(d, hidden) → ReLU → Linear(hidden, 1)), CPU tensors
    U              the diagonal design matrix (NeuralTS), float32 (n_params,)
    settings       OptimNeuralTSSettings as a dict (lam, nu, flag_z, flag_threshold, …)
    step           bandit steps taken;  pulled, rewards, flags: the run's pulls and union of flags
    drug_ids       column j of a combination's multi-hot row is drug_ids[j] (synthetic: "D000"…)
    drug_names     generic names, same order (catalog datasets; empty for synthetic ones)
    threshold, z   a combination is flagged when mu - z·sigma > threshold
    dataset        kind, catalog, catalog_fingerprint, generator (the arguments that rebuild it),
                   X_packed (np.packbits of the rows, uint8), n_combinations, rr, pip,
                   pattern_index: the training data itself, so "screen all" needs no catalog
    metrics        the final training metrics

Scoring is vectorised: a batch of combinations becomes one multi-hot tensor, and ``mu`` and the
analytic ``sigma`` of ``bandits.optimneuralts`` come out of three matrix products.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from bandits.datasets import PolypharmacyDataset
from bandits.optimneuralts import OptimNeuralTS, analytic_mu_sigma

FORMAT = "polypharmacy-bandit/1"
SCORE_BATCH = 8192
CACHE_SIZE = 4


def synthetic_drug_ids(n_drugs: int) -> list[str]:
    """Column names of a synthetic dataset: D000, D001, … (wide enough for n_drugs)."""
    width = max(3, len(str(n_drugs - 1)))
    return [f"D{j:0{width}d}" for j in range(n_drugs)]


def plain_data(value: Any) -> Any:
    """JSON-like data only (numpy scalars to Python, NaN to None) for the checkpoint and results."""
    if isinstance(value, dict):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def checkpoint_payload(algo: OptimNeuralTS, ds: PolypharmacyDataset, *, drug_ids: Sequence[str],
                       drug_names: Sequence[str] = (), dataset_meta: dict[str, Any] | None = None,
                       metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint of a trained model and its training data, in the format above."""
    state = algo.checkpoint()
    return {
        "format": FORMAT,
        "state_dict": state["state_dict"],
        "U": state["U"],
        "settings": plain_data(state["settings"]),
        "step": int(state["step"]),
        "pulled": torch.as_tensor(state["pulled"], dtype=torch.int64),
        "rewards": torch.as_tensor(state["rewards"], dtype=torch.float32),
        "flags": torch.as_tensor(state["flags"], dtype=torch.bool),
        "drug_ids": list(drug_ids),
        "drug_names": list(drug_names),
        "threshold": float(algo.s.flag_threshold),
        "z": float(algo.s.flag_z),
        "dataset": {
            **plain_data(dataset_meta or {}),
            "X_packed": torch.from_numpy(np.packbits(ds.X, axis=1)),
            "n_combinations": ds.n_combinations,
            "n_drugs": ds.n_drugs,
            "rr": torch.as_tensor(ds.rr, dtype=torch.float32),
            "pip": torch.as_tensor(ds.pip, dtype=torch.bool),
            "pattern_index": torch.as_tensor(ds.pattern_index, dtype=torch.int64),
        },
        "metrics": plain_data(metrics or {}),
    }


def save_checkpoint(path: Path | str, payload: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # a reader never sees half a file
    return path


@dataclass
class Problem:
    """Why one combination of a request cannot be scored."""

    index: int
    message: str
    kind: str = "value_error"
    unknown: list[str] = field(default_factory=list)


@dataclass
class Scores:
    mu: np.ndarray  # predicted relative risk
    sigma: np.ndarray
    lower: np.ndarray  # mu - z * sigma
    flagged: np.ndarray  # lower > threshold


class BanditScorer:
    """A loaded checkpoint: encodes combinations of drug ids and scores them."""

    def __init__(self, payload: dict[str, Any]) -> None:
        if payload.get("format") != FORMAT:
            raise ValueError(f"Not a bandit checkpoint (format {payload.get('format')!r}, expected {FORMAT!r}).")
        sd = payload["state_dict"]
        hidden, d = sd["0.weight"].shape
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.net.load_state_dict(sd)
        self.net.eval()
        self.inv_U = 1.0 / payload["U"].to(torch.float32)
        self.settings: dict[str, Any] = dict(payload["settings"])
        self.lam, self.nu = float(self.settings["lam"]), float(self.settings["nu"])
        self.threshold, self.z = float(payload["threshold"]), float(payload["z"])
        self.drug_ids: list[str] = list(payload["drug_ids"])
        self.drug_names: list[str] = list(payload.get("drug_names") or [])
        self.column = {drug: j for j, drug in enumerate(self.drug_ids)}
        self.dataset: dict[str, Any] = dict(payload["dataset"])
        self.metrics: dict[str, Any] = dict(payload.get("metrics") or {})
        self.step = int(payload.get("step", 0))
        self.train_flags = payload["flags"].numpy()
        if len(self.drug_ids) != d:
            raise ValueError(f"The checkpoint names {len(self.drug_ids)} drugs for a network of {d} inputs.")

    @property
    def n_drugs(self) -> int:
        return len(self.drug_ids)

    def name_of(self, drug_id: str) -> str:
        j = self.column.get(drug_id)
        return self.drug_names[j] if self.drug_names and j is not None else drug_id

    # ── encoding ───────────────────────────────────────────────────────────
    def encode(self, combinations: Sequence[Any]) -> tuple[np.ndarray, list[Problem]]:
        """Multi-hot rows (uint8) of lists of drug ids, and the problems of those that are not
        (not a list, empty, not strings, unknown ids). A drug named twice counts once."""
        rows: list[int] = []
        cols: list[int] = []
        problems: list[Problem] = []
        column = self.column
        for i, combo in enumerate(combinations):
            if not isinstance(combo, list):
                problems.append(Problem(i, "A combination must be a list of drug ids.", "list_type"))
                continue
            if not combo:
                problems.append(Problem(i, "A combination must name at least one drug.", "too_short"))
                continue
            unknown: list[str] = []
            for drug in combo:
                j = column.get(drug) if isinstance(drug, str) else None
                if j is None:
                    if not isinstance(drug, str):
                        problems.append(Problem(i, "Drug ids must be strings.", "string_type"))
                        unknown = []
                        break
                    unknown.append(drug)
                else:
                    rows.append(i)
                    cols.append(j)
            else:
                if unknown:
                    problems.append(Problem(i, self.unknown_message(unknown), "unknown_drug", unknown))
        X = np.zeros((len(combinations), self.n_drugs), dtype=np.uint8)
        if rows:
            X[np.asarray(rows), np.asarray(cols)] = 1
        return X, problems

    def unknown_message(self, unknown: Sequence[str]) -> str:
        where = f"catalog {self.dataset['catalog']!r}" if self.dataset.get("catalog") else "its synthetic dataset"
        ids = ", ".join(dict.fromkeys(unknown))
        return (f"Unknown drug id(s): {ids}. The model knows the {self.n_drugs} drugs of {where} "
                f"(e.g. {', '.join(self.drug_ids[:3])}).")

    # ── scoring ────────────────────────────────────────────────────────────
    @torch.no_grad()
    def score(self, X: np.ndarray) -> Scores:
        """Scores of each row of X, in order. A combination given several times is scored once."""
        unique, inverse = unique_rows(X)
        mus, sigmas = [], []
        for i in range(0, len(unique), SCORE_BATCH):
            x = torch.from_numpy(np.ascontiguousarray(unique[i : i + SCORE_BATCH], dtype=np.float32))
            mu, sigma = analytic_mu_sigma(self.net, self.inv_U, x, lam=self.lam, nu=self.nu)
            mus.append(mu.numpy())
            sigmas.append(sigma.numpy())
        mu_all = np.concatenate(mus)[inverse] if mus else np.zeros(0, dtype=np.float32)
        sigma_all = np.concatenate(sigmas)[inverse] if sigmas else np.zeros(0, dtype=np.float32)
        lower = mu_all - self.z * sigma_all
        return Scores(mu=mu_all, sigma=sigma_all, lower=lower, flagged=lower > self.threshold)

    def dataset_X(self) -> np.ndarray:
        """The training combinations (multi-hot rows)."""
        packed = self.dataset["X_packed"].numpy()
        return np.unpackbits(packed, axis=1, count=self.n_drugs)

    def training_index(self, X: np.ndarray) -> np.ndarray:
        """For each row of X, the index of the same combination in the training data, or -1."""
        packed = self.dataset["X_packed"].numpy()
        where = {row.tobytes(): i for i, row in enumerate(packed)}
        return np.array([where.get(row.tobytes(), -1) for row in np.packbits(X, axis=1)], dtype=np.int64)

    def drugs_of(self, row: np.ndarray) -> list[str]:
        return [self.drug_ids[j] for j in np.flatnonzero(row)]


def unique_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct rows of X in first-seen order, each row's index among them). By their packed
    bits in a dict: ``np.unique(axis=0)`` sorts, one C call that held the GIL for 47 ms on
    10,000 rows (a stall for every other request of the web process)."""
    seen: dict[bytes, int] = {}
    first: list[int] = []
    inverse = np.empty(len(X), dtype=np.int64)
    for i, row in enumerate(np.packbits(X, axis=1)):
        key = row.tobytes()
        at = seen.get(key)
        if at is None:
            at = seen[key] = len(first)
            first.append(i)
        inverse[i] = at
    return X[first], inverse


def load_scorer(path: Path | str) -> BanditScorer:
    """Read a checkpoint file (plain data and tensors only) into a scorer."""
    payload = torch.load(str(path), map_location="cpu", weights_only=True)
    return BanditScorer(payload)


_cache: OrderedDict[tuple[Any, str, int, int], BanditScorer] = OrderedDict()
_cache_lock = threading.Lock()


def cached_scorer(path: Path | str, key: Any = None) -> BanditScorer:
    """``load_scorer`` once per process for a given checkpoint (``key``, e.g. its id) and file
    version (mtime and size: a replaced file is read again); the last CACHE_SIZE are kept."""
    path = Path(path)
    stat = path.stat()
    cache_key = (key, str(path), stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        scorer = _cache.get(cache_key)
        if scorer is not None:
            _cache.move_to_end(cache_key)
            return scorer
    scorer = load_scorer(path)  # outside the lock: a slow read must not hold up other models
    with _cache_lock:
        _cache[cache_key] = scorer
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return scorer


def scorer_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def flagged_rows(scorer: BanditScorer, X: np.ndarray, scores: Scores, *, limit: int,
                 only_flagged: bool = True, index: np.ndarray | None = None) -> list[dict[str, Any]]:
    """The (flagged) combinations, highest lower bound first, as result rows with their drugs."""
    order = np.argsort(-scores.lower, kind="stable")
    if only_flagged:
        order = order[scores.flagged[order]]
    rows = []
    for i in order[:limit]:
        drugs = scorer.drugs_of(X[i])
        rows.append({
            "index": int(index[i]) if index is not None else int(i),
            "drugs": drugs,
            "names": [scorer.name_of(d) for d in drugs] if scorer.drug_names else drugs,
            "predicted_rr": float(scores.mu[i]),
            "sigma": float(scores.sigma[i]),
            "lower_bound": float(scores.lower[i]),
            "flagged": bool(scores.flagged[i]),
        })
    return rows
