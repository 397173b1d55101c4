"""The regimen inside an episode: each drug's state, the frozen entries shown to
clients, and what a reset needs per patient (computed once per catalog and patient)."""

from __future__ import annotations

import weakref
from typing import NamedTuple

from envcore.catalog import Catalog, Patient, pair_key
from envcore.indications import regimen_needs
from envcore.observation import MedicationEntry
from envcore.risk import beers_flags, regimen_risk


class Med(NamedTuple):
    """A drug's state within the episode. Immutable: an intervention puts a new one in its
    slot, so copying an episode's regimen is copying a tuple."""

    drug_id: str
    dose_mg: float
    dose_reduced: bool = False
    monitored: bool = False


class PatientStart:
    """What reset needs for a patient, computed once per catalog: starting entries and risk."""

    __slots__ = ("meds", "entries", "baseline_risk", "severe_drugs", "conditions", "entry_cache")

    def __init__(self, catalog: Catalog, patient: Patient):
        self.conditions = frozenset(patient.conditions)
        # The entries this patient's episodes have shown, by (drug state, needed for): an
        # intervention changes one drug, and the others' entries (frozen) are reused.
        self.entry_cache: dict[tuple[Med, tuple[str, ...]], MedicationEntry] = {}
        self.meds = meds = tuple(Med(d, catalog.drugs[d].default_dose_mg) for d in patient.medication_ids)
        self.entries = medication_entries(catalog, meds, patient.conditions, self.entry_cache)
        self.baseline_risk = regimen_risk(catalog, list(meds), self.conditions, len(meds))
        severe: set[str] = set()
        ids = patient.medication_ids
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                rule = catalog.rules.get(pair_key(a, b))
                if rule is not None and rule.severity == "severe":
                    severe.update((a, b))
        self.severe_drugs = frozenset(severe)


_STARTS: "weakref.WeakKeyDictionary[Catalog, dict[str, PatientStart]]" = weakref.WeakKeyDictionary()


def patient_start(catalog: Catalog, patient: Patient) -> PatientStart:
    per_catalog = _STARTS.setdefault(catalog, {})
    start = per_catalog.get(patient.patient_id)
    if start is None:
        start = per_catalog[patient.patient_id] = PatientStart(catalog, patient)
    return start


def medication_entries(
    catalog: Catalog, meds: tuple[Med | None, ...], conditions: tuple[str, ...],
    cache: dict[tuple[Med, tuple[str, ...]], MedicationEntry] | None = None,
) -> tuple[MedicationEntry, ...]:
    """The entries shown for a regimen (stopped slots left out), each with what it is needed for.
    ``cache`` (one patient's: the entries depend on the conditions) keeps entries already built."""
    present = [m for m in meds if m is not None]
    needs = regimen_needs((catalog.drugs[m.drug_id] for m in present), conditions)
    if cache is None:
        return tuple(medication_entry(catalog, m, conditions, needs[m.drug_id]) for m in present)
    entries = []
    for m in present:
        key = (m, needs[m.drug_id])
        entry = cache.get(key)
        if entry is None:
            entry = cache[key] = medication_entry(catalog, m, conditions, needs[m.drug_id])
        entries.append(entry)
    return tuple(entries)


def medication_entry(
    catalog: Catalog, med: Med, conditions: tuple[str, ...], needed_for: tuple[str, ...] = ()
) -> MedicationEntry:
    drug = catalog.drugs[med.drug_id]
    return MedicationEntry(
        drug_id=drug.drug_id,
        generic_name=drug.generic_name,
        atc_class=drug.atc_class,
        dose_mg=med.dose_mg,
        frequency=drug.frequency,
        route=drug.route,
        is_high_risk_elderly=drug.is_high_risk_elderly,
        is_critical=drug.is_critical,
        beers_flags=beers_flags(catalog, drug.drug_id, conditions),
        anticholinergic_score=drug.anticholinergic_score,
        monitored=med.monitored,
        needed_for=needed_for,
    )
