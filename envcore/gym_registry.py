"""Gymnasium ids for the adapter, one per task and catalog: ``PolypharmacyEnv/<Task>-<catalog>-v0``.

``import envcore`` registers them (``envcore/__init__.py`` calls ``gym_registry_register``), so

    import envcore, gymnasium
    env = gymnasium.make("PolypharmacyEnv/EasyScreening-classic-v0")

works, and so does ``gymnasium.make("envcore:PolypharmacyEnv/EasyScreening-classic-v0")`` with no
import line (Gymnasium imports the module named before the colon). Registering at import rather
than through package entry points is deliberate: Gymnasium 1.x no longer reads the
``gymnasium.envs`` entry-point group that gym 0.26 did, so an entry-point table would register
nothing.

The entry point is a string, so registering imports nothing of the adapter; ``gymnasium.make``
imports ``envcore.gym_env`` when an environment is made. No ``max_episode_steps``: each task
truncates itself at its step limit (``truncated`` is the environment's own), so Gymnasium's
``TimeLimit`` is not added.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from envcore.catalog import CATALOG_NAMES, TASK_IDS

NAMESPACE = "PolypharmacyEnv"
VERSION = 0
ENTRY_POINT = "envcore.gym_env:PolypharmacyGymEnv"


def gym_env_id(task_id: str, catalog: str) -> str:
    """``PolypharmacyEnv/EasyScreening-classic-v0`` for ("easy_screening", "classic")."""
    task = "".join(part.capitalize() for part in task_id.split("_"))
    return f"{NAMESPACE}/{task}-{catalog}-v{VERSION}"


GYM_ENV_IDS: dict[tuple[str, str], str] = {
    (task_id, catalog): gym_env_id(task_id, catalog) for task_id in TASK_IDS for catalog in CATALOG_NAMES
}


def gym_registry_register() -> None:
    """Register every id (idempotent: a second call, say after a reload, changes nothing)."""
    for (task_id, catalog), env_id in GYM_ENV_IDS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=ENTRY_POINT, kwargs={"catalog": catalog, "task_id": task_id})
