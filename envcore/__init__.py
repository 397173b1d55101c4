"""envcore: the polypharmacy medication-review environment, pure Python (+ numpy), no Django."""

from envcore.contract import Action, parse_action
from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from envcore.errors import (
    CatalogError,
    EnvError,
    EpisodeFinishedError,
    NoEpisodeError,
    SnapshotError,
    ValidationError,
)
from envcore.observation import Observation
from envcore.scenarios import TASKS, TaskConfig

__all__ = [
    "Action",
    "Catalog",
    "CatalogError",
    "EnvError",
    "EpisodeFinishedError",
    "NoEpisodeError",
    "Observation",
    "PolypharmacyEnv",
    "SnapshotError",
    "TASKS",
    "TaskConfig",
    "ValidationError",
    "parse_action",
]
