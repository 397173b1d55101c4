"""envcore: the polypharmacy medication-review environment, pure Python (+ numpy), no Django."""

from envcore.contract import Action, parse_action
from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from envcore.gym_registry import GYM_ENV_IDS, gym_env_id, gym_registry_register
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

# The Gymnasium ids (PolypharmacyEnv/<Task>-<catalog>-v0) exist once envcore is imported.
gym_registry_register()

__all__ = [
    "Action",
    "Catalog",
    "CatalogError",
    "EnvError",
    "EpisodeFinishedError",
    "GYM_ENV_IDS",
    "NoEpisodeError",
    "Observation",
    "PolypharmacyEnv",
    "SnapshotError",
    "TASKS",
    "TaskConfig",
    "ValidationError",
    "gym_env_id",
    "parse_action",
]
