"""Precision / recall / pattern share of a set of flagged combinations."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class FlagMetrics:
    n_flagged: int
    n_true_positive: int
    precision: float  # nan when nothing is flagged
    recall: float
    pattern_share: float  # share of the planted patterns (rows of X) that are flagged

    def as_dict(self) -> dict:
        return asdict(self)


def flag_metrics(flags: np.ndarray, pip: np.ndarray, pattern_index: np.ndarray | None = None) -> FlagMetrics:
    """``flags``: bool mask over all combinations (or an index array); ``pip``: bool labels."""
    pip = np.asarray(pip, dtype=bool)
    flags = np.asarray(flags)
    if flags.dtype != bool:
        mask = np.zeros(len(pip), dtype=bool)
        mask[flags.astype(np.int64)] = True
        flags = mask
    n_flag = int(flags.sum())
    tp = int((flags & pip).sum())
    n_pip = int(pip.sum())
    precision = tp / n_flag if n_flag else float("nan")
    recall = tp / n_pip if n_pip else float("nan")
    share = float("nan")
    if pattern_index is not None and len(pattern_index):
        idx = np.asarray(pattern_index)
        share = float(np.mean([flags[i] if i >= 0 else False for i in idx]))
    return FlagMetrics(n_flag, tp, precision, recall, share)
