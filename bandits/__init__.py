"""Neural bandits for searching dangerous polypharmacy (OptimNeuralTS, Larouche et al. 2023).

Pure numpy/torch; no Django imports.
"""

from bandits.datasets import PolypharmacyDataset, make_dataset
from bandits.metrics import FlagMetrics, flag_metrics
from bandits.optimneuralts import OptimNeuralTS, OptimNeuralTSSettings

__all__ = [
    "FlagMetrics",
    "OptimNeuralTS",
    "OptimNeuralTSSettings",
    "PolypharmacyDataset",
    "flag_metrics",
    "make_dataset",
]
