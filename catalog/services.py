"""Writes to the catalog: loading the shipped fixture catalogs into the database."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from simple_history.utils import bulk_create_with_history

from catalog.models import BeersCriterion, CatalogSource, DDIRule, Drug, Patient, PatientMedication
from catalog.signals import catalog_version_bump, version_bumps_deferred
from envcore.catalog import CATALOGS_DIR, Catalog

DRUG_FIELDS = (
    "generic_name", "atc_class", "atc_code", "atc_class_name", "is_high_risk_elderly", "is_critical",
    "default_dose_mg", "min_dose_mg", "max_dose_mg", "frequency", "route", "anticholinergic_score",
    "source", "confidence",
)  # fmt: skip
RULE_FIELDS = ("severity", "recommendation", "base_risk_score", "mechanism", "source", "confidence")
BEERS_FIELDS = ("rationale", "source", "confidence")
PATIENT_FIELDS = ("position", "task_id", "age", "sex", "conditions", "eGFR_category", "liver_function_category")


@dataclass
class LoadCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


@dataclass
class LoadReport:
    """What ``catalog_load`` did, per kind of row."""

    name: str
    drugs: LoadCounts = field(default_factory=LoadCounts)
    rules: LoadCounts = field(default_factory=LoadCounts)
    beers: LoadCounts = field(default_factory=LoadCounts)
    patients: LoadCounts = field(default_factory=LoadCounts)
    version: int = 0

    @property
    def changed(self) -> bool:
        return any(c.changed for c in (self.drugs, self.rules, self.beers, self.patients))

    def __str__(self) -> str:
        def part(label: str, c: LoadCounts) -> str:
            text = f"{label} {c.created} created, {c.updated} updated, {c.unchanged} unchanged"
            return text + (f", {c.deleted} deleted" if c.deleted else "")

        parts = [
            part("drugs", self.drugs),
            part("rules", self.rules),
            part("beers", self.beers),
            part("patients", self.patients),
        ]
        return f"{self.name}: " + "; ".join(parts) + f" (version {self.version})"


def catalog_description(name: str) -> str:
    """The description in ``envcore/catalogs/<name>/catalog.json``, or "" when there is none."""
    path = CATALOGS_DIR / name / "catalog.json"
    if not path.is_file():
        return ""
    return str(json.loads(path.read_text(encoding="utf-8")).get("description", ""))


def _apply(obj: models.Model, values: Mapping[str, Any], reason: str) -> bool:
    """Set ``values`` on ``obj`` and save it if anything differs. True when it saved."""
    if all(getattr(obj, key) == value for key, value in values.items()):
        return False
    for key, value in values.items():
        setattr(obj, key, value)
    obj._change_reason = reason  # type: ignore[attr-defined]  # read by simple-history
    obj.save()
    return True


def catalog_load(*, name: str, records: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
                 prune: bool = False) -> LoadReport:  # fmt: skip
    """Upsert catalog ``name`` from its fixture files (or from ``records``) in one transaction.

    ``records`` has the shape of ``envcore.catalog.Catalog.to_records()``; by default it is read
    from ``envcore/catalogs/<name>/`` through envcore, so the files stay the single source of truth and
    are validated by the same code the environment uses. Rows missing from the records are kept
    unless ``prune``. A load that changes nothing writes nothing: no history rows, no version bump.
    """
    description = ""
    if records is None:
        records = Catalog.load(name).to_records()
        description = catalog_description(name)
    reason = f"load_catalog {name}"
    report = LoadReport(name=name)
    with transaction.atomic(), version_bumps_deferred():
        source, _ = CatalogSource.objects.get_or_create(name=name, defaults={"description": description})
        drugs = _load_drugs(source, records["drugs"], report.drugs, reason)
        _load_rules(source, drugs, records["ddi_rules"], report.rules, reason, prune)
        _load_beers(source, drugs, records["beers_criteria"], report.beers, reason, prune)
        _load_patients(source, drugs, records["patients"], report.patients, reason, prune)
        if prune:
            # Drugs last: rules, criteria and regimens that named them are gone by now.
            stale = Drug.objects.filter(catalog=source).exclude(pk__in=[d.pk for d in drugs.values()])
            report.drugs.deleted = _delete_each(stale)
        if report.changed:
            catalog_version_bump(source.pk)
        source.refresh_from_db(fields=["version"])
        report.version = source.version
    return report


def _delete_each(queryset: models.QuerySet[models.Model]) -> int:
    """Delete row by row so that each deletion leaves a history row."""
    count = 0
    for obj in queryset:
        obj.delete()
        count += 1
    return count


def _load_drugs(source: CatalogSource, records: Iterable[Mapping[str, Any]], counts: LoadCounts,
                reason: str) -> dict[str, Drug]:  # fmt: skip
    existing = {d.drug_id: d for d in Drug.objects.filter(catalog=source)}
    wanted: dict[str, Drug] = {}
    new: list[Drug] = []
    for rec in records:
        values = {key: rec[key] for key in DRUG_FIELDS if key in rec}
        drug = existing.get(rec["drug_id"])
        if drug is None:
            drug = Drug(catalog=source, drug_id=rec["drug_id"], **values)
            new.append(drug)
        elif _apply(drug, values, reason):
            counts.updated += 1
        else:
            counts.unchanged += 1
        wanted[drug.drug_id] = drug
    if new:
        bulk_create_with_history(new, Drug, default_change_reason=reason)
        counts.created = len(new)
    if new and any(d.pk is None for d in new):  # a backend that does not return primary keys
        by_id = {d.drug_id: d for d in Drug.objects.filter(catalog=source)}
        wanted = {key: by_id[key] for key in wanted}
    return wanted


def _load_rules(source: CatalogSource, drugs: Mapping[str, Drug], records: Iterable[Mapping[str, Any]],
                counts: LoadCounts, reason: str, prune: bool) -> None:  # fmt: skip
    existing = {(r.drug_1_id, r.drug_2_id): r for r in DDIRule.objects.filter(catalog=source)}
    seen: set[int] = set()
    new: list[DDIRule] = []
    for rec in records:
        first, second = sorted((drugs[rec["drug_id_1"]], drugs[rec["drug_id_2"]]), key=lambda d: d.pk)
        values = {key: rec[key] for key in RULE_FIELDS if key in rec}
        rule = existing.get((first.pk, second.pk))
        if rule is None:
            new.append(DDIRule(catalog=source, drug_1=first, drug_2=second, **values))
            continue
        seen.add(rule.pk)
        if _apply(rule, values, reason):
            counts.updated += 1
        else:
            counts.unchanged += 1
    if new:
        bulk_create_with_history(new, DDIRule, default_change_reason=reason)
        counts.created = len(new)
    if prune:
        counts.deleted = _delete_each(DDIRule.objects.filter(catalog=source).exclude(pk__in=seen | {r.pk for r in new}))


def _load_beers(source: CatalogSource, drugs: Mapping[str, Drug], records: Iterable[Mapping[str, Any]],
                counts: LoadCounts, reason: str, prune: bool) -> None:  # fmt: skip
    existing = {(b.drug_id, b.criterion_type, b.condition): b for b in BeersCriterion.objects.filter(catalog=source)}
    seen: set[int] = set()
    new: list[BeersCriterion] = []
    for rec in records:
        drug = drugs[rec["drug_id"]]
        condition = rec.get("condition") or ""
        values = {key: rec[key] for key in BEERS_FIELDS if key in rec}
        crit = existing.get((drug.pk, rec["criterion_type"], condition))
        if crit is None:
            new.append(
                BeersCriterion(
                    catalog=source, drug=drug, criterion_type=rec["criterion_type"], condition=condition, **values
                )
            )
            continue
        seen.add(crit.pk)
        if _apply(crit, values, reason):
            counts.updated += 1
        else:
            counts.unchanged += 1
    if new:
        bulk_create_with_history(new, BeersCriterion, default_change_reason=reason)
        counts.created = len(new)
    if prune:
        stale = BeersCriterion.objects.filter(catalog=source).exclude(pk__in=seen | {c.pk for c in new})
        counts.deleted = _delete_each(stale)


def _load_patients(source: CatalogSource, drugs: Mapping[str, Drug], records: Iterable[Mapping[str, Any]],
                   counts: LoadCounts, reason: str, prune: bool) -> None:  # fmt: skip
    existing = {p.patient_id: p for p in Patient.objects.filter(catalog=source)}
    regimens: dict[int, list[int]] = {}
    for med in PatientMedication.objects.filter(patient__catalog=source).order_by("patient_id", "position"):
        regimens.setdefault(med.patient_id, []).append(med.drug_id)
    seen: set[int] = set()
    new: list[tuple[Patient, list[int]]] = []
    changed_regimens: list[tuple[Patient, list[int]]] = []
    for position, rec in enumerate(records):
        values = {key: rec[key] for key in PATIENT_FIELDS if key in rec and key != "position"}
        values["position"] = position
        values["conditions"] = list(values.get("conditions", []))
        medication_pks = [drugs[drug_id].pk for drug_id in rec.get("medication_ids", [])]
        patient = existing.get(rec["patient_id"])
        if patient is None:
            new.append((Patient(catalog=source, patient_id=rec["patient_id"], **values), medication_pks))
            continue
        seen.add(patient.pk)
        saved = _apply(patient, values, reason)
        regimen_changed = regimens.get(patient.pk, []) != medication_pks
        if regimen_changed:
            changed_regimens.append((patient, medication_pks))
        if saved or regimen_changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    for patient, _ in changed_regimens:
        _delete_each(PatientMedication.objects.filter(patient=patient))
    if new:
        bulk_create_with_history([p for p, _ in new], Patient, default_change_reason=reason)
        counts.created = len(new)
    meds = [
        PatientMedication(patient=patient, drug_id=drug_pk, position=i)
        for patient, pks in [*new, *changed_regimens]
        for i, drug_pk in enumerate(pks)
    ]
    if meds:
        bulk_create_with_history(meds, PatientMedication, default_change_reason=reason)
    if prune:
        stale = Patient.objects.filter(catalog=source).exclude(pk__in=seen | {p.pk for p, _ in new})
        counts.deleted = _delete_each(stale)
