"""Client of a PolypharmacyEnv server: ``PolypharmacyEnv`` and its typed models."""

from polypharmacy_env.client import PolypharmacyEnv
from polypharmacy_env.models import (
    InteractionQuery,
    InterventionRecord,
    MedicationEntry,
    PolypharmacyAction,
    PolypharmacyObservation,
    PolypharmacyState,
)

__all__ = [
    "InteractionQuery",
    "InterventionRecord",
    "MedicationEntry",
    "PolypharmacyAction",
    "PolypharmacyEnv",
    "PolypharmacyObservation",
    "PolypharmacyState",
]
