"""The Task API's splits (OpenEnv 0.10's TaskProvider): which episodes a training run draws.

- ``train``: seeds 0–9999 of each of the three tasks, the task cycling fastest (index ``i`` is
  task ``TASK_IDS[i % 3]`` with seed ``i // 3``), so any prefix covers the tasks evenly;
- ``test``: the same over seeds 10000–10999, the held-out seeds every evaluation in this project
  reports on (agents/runners.py's TEST_SEED_START);
- ``patients``: every patient of the catalog once, in the catalog's order, with its own task.

A task is a reset: ``reset(split=..., index=...)`` starts exactly the episode the task describes
(the same patient as ``reset(**task["reset"])``). Pure: the catalog is passed in.
"""

from __future__ import annotations

from typing import Any

from envcore.catalog import TASK_IDS, Catalog
from envcore.errors import ValidationError
from envcore.scenarios import TASKS

SPLITS = ("train", "test", "patients")
SEEDS_PER_TASK = 10_000
TRAIN_SEED_START = 0
TEST_SEED_START = 10_000
TEST_SEEDS_PER_TASK = 1_000
_SEEDED = {"train": (TRAIN_SEED_START, SEEDS_PER_TASK), "test": (TEST_SEED_START, TEST_SEEDS_PER_TASK)}
_DESCRIPTIONS = {
    "train": "Seeds 0–9999 of each task (index i: task i % 3, seed i // 3).",
    "test": "Held-out seeds 10000–10999 of each task (index i: task i % 3, seed 10000 + i // 3).",
    "patients": "Every patient of the catalog once, with its own task.",
}


def _check_split(split: Any, field: str = "split") -> str:
    if not isinstance(split, str) or split not in SPLITS:
        raise ValidationError(f"{field} must be one of {', '.join(SPLITS)}; got {split!r}.", field=field)
    return split


def split_size(catalog: Catalog, split: str) -> int:
    split = _check_split(split)
    if split == "patients":
        return len(catalog.patients)
    return len(TASK_IDS) * _SEEDED[split][1]


def split_list(catalog: Catalog) -> list[dict[str, Any]]:
    """The splits as OpenEnv describes them (``name``, ``type``) with their size."""
    return [{"name": split, "type": "test" if split == "test" else "train", "num_tasks": split_size(catalog, split),
             "description": _DESCRIPTIONS[split], "catalog": catalog.name} for split in SPLITS]


def task_get(catalog: Catalog, split: str, index: int) -> dict[str, Any]:
    """Task ``index`` of ``split``; ``IndexError`` beyond the split (OpenEnv's convention)."""
    size = split_size(catalog, split)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise IndexError(f"index {index!r} is outside split {split!r} (0–{size - 1}).")
    reset: dict[str, Any]
    if split == "patients":
        patient = list(catalog.patients.values())[index]
        reset = {"task_id": patient.task_id, "patient_id": patient.patient_id}
    else:
        start, _ = _SEEDED[split]
        reset = {"task_id": TASK_IDS[index % len(TASK_IDS)], "seed": start + index // len(TASK_IDS)}
    task = TASKS[reset["task_id"]]
    return {"id": f"{split}-{index}", "index": index, "split": split, "catalog": catalog.name,
            "difficulty": task.difficulty, "description": task.description, "reset": reset}


def task_range(catalog: Catalog, split: str, start: int | None = None, stop: int | None = None) -> list[dict[str, Any]]:
    """Tasks ``[start, stop)`` of ``split``, with Python's slice semantics."""
    indices = range(split_size(catalog, split))[slice(start, stop)]
    return [task_get(catalog, split, i) for i in indices]


def task_reset_arguments(catalog: Catalog, split: str, index: int) -> dict[str, Any]:
    """The reset arguments of task ``index`` (``ValidationError`` naming ``index`` beyond it)."""
    _check_split(split)
    try:
        return dict(task_get(catalog, split, index)["reset"])
    except IndexError as exc:
        raise ValidationError(str(exc)[0].upper() + str(exc)[1:], field="index") from None
