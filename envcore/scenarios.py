"""The three tasks (DESIGN §3.1) and seeded patient selection."""

from __future__ import annotations

import random
from dataclasses import dataclass

from envcore.catalog import TASK_IDS, Catalog, Patient
from envcore.errors import ValidationError


@dataclass(frozen=True, slots=True)
class TaskConfig:
    task_id: str
    difficulty: str
    min_drugs: int
    max_drugs: int
    query_budget: int
    intervention_budget: int
    max_steps: int
    description: str


# Budgets and limits are the reference's, so scores stay comparable on the wire.
TASKS: dict[str, TaskConfig] = {
    "easy_screening": TaskConfig(
        "easy_screening", "easy", 3, 5, 4, 2, 10,
        "3-5 drugs with at least one severe interaction: find it and resolve it.",
    ),
    "budgeted_screening": TaskConfig(
        "budgeted_screening", "medium", 6, 10, 8, 3, 20,
        "6-10 drugs, several interactions and Beers issues, limited query and intervention budgets.",
    ),
    "complex_tradeoff": TaskConfig(
        "complex_tradeoff", "hard", 10, 15, 12, 5, 30,
        "10-15 drugs including critical ones: lower risk without disrupting the regimen.",
    ),
}
assert tuple(TASKS) == TASK_IDS
DEFAULT_TASK = "budgeted_screening"


def select_patient(
    catalog: Catalog,
    task: TaskConfig,
    *,
    seed: int | None,
    patient_id: str | None,
    rng: random.Random,
) -> Patient:
    """Pick the episode's patient.

    ``patient_id`` picks directly and must belong to the task's pool. Otherwise a seed picks
    ``random.Random(seed).choice(pool)`` over the pool in file order — the reference
    implementation's mapping, so on the classic catalog a seed selects the same patient as there.
    Without either, the environment's own RNG picks.
    """
    pool = catalog.pool(task.task_id)
    if patient_id is not None:
        if not isinstance(patient_id, str):
            raise ValidationError("patient_id must be a string.", field="patient_id")
        patient = catalog.patients.get(patient_id)
        if patient is None:
            raise ValidationError(
                f"Unknown patient_id {patient_id!r} in catalog {catalog.name!r}.", field="patient_id"
            )
        if patient.task_id != task.task_id:
            raise ValidationError(
                f"patient_id {patient_id!r} belongs to task {patient.task_id!r}, not {task.task_id!r}.",
                field="patient_id",
            )
        return patient
    if not pool:
        raise ValidationError(
            f"Catalog {catalog.name!r} has no patients for task {task.task_id!r}.", field="task_id"
        )
    chooser = random.Random(seed) if seed is not None else rng
    return catalog.patients[chooser.choice(pool)]
