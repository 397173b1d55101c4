"""Reads from the catalog: the envcore ``Catalog`` built from the database, cached per process."""

from __future__ import annotations

import threading
from typing import Any

from catalog.models import BeersCriterion, CatalogSource, DDIRule, Drug, Patient, PatientMedication
from catalog.services import DRUG_FIELDS, RULE_FIELDS
from envcore.catalog import DEFAULT_CATALOG, Catalog

# {name: ((version, updated_at), Catalog)}. Each call costs one small query (the stamp) so that
# a curator's edit reaches every process at its next call, without a message bus; building a
# catalog costs tens of milliseconds, so a rebuild per edit is cheap, and a query per call is
# what buys not having to reason about stale workers. ``updated_at`` joins the version so that a
# database recreated from scratch (tests, a reset) cannot collide with an older cached version.
_cache: dict[str, tuple[tuple[int, Any], "Catalog"]] = {}
_source_ids: dict[str, int] = {}
_cache_lock = threading.Lock()


class CatalogNotLoaded(LookupError):
    """The catalog has no rows in this database yet."""

    def __init__(self, name: str) -> None:
        super().__init__(f"catalog {name!r} is not in the database; run `manage.py load_catalog {name}`")
        self.name = name


def catalog_get(name: str = DEFAULT_CATALOG) -> "Catalog":
    """The envcore catalog ``name`` as the database holds it now (cached until its next change)."""
    return catalog_get_with_id(name)[0]


def catalog_get_with_id(name: str = DEFAULT_CATALOG) -> tuple["Catalog", int]:
    """``catalog_get`` and the ``CatalogSource`` primary key, from the same single query."""
    row = CatalogSource.objects.filter(name=name).values_list("pk", "version", "updated_at").first()
    if row is None:
        raise CatalogNotLoaded(name)
    pk, version, updated_at = row
    stamp = (version, updated_at)
    cached = _cache.get(name)
    if cached is not None and cached[0] == stamp:
        return cached[1], pk
    # The rows are read after the stamp, so the cached catalog is never older than its stamp;
    # at worst an edit landing in between costs one extra rebuild on the next call.
    catalog = Catalog.from_records(name, **catalog_records(source_id=pk))
    with _cache_lock:
        _cache[name] = (stamp, catalog)
        _source_ids[name] = pk
    return catalog, pk


def catalog_cached(name: str) -> tuple["Catalog", int, tuple[int, Any]] | None:
    """What this process has cached for ``name`` — (catalog, source pk, (version, updated_at)) —
    without asking the database; a caller must check the stamp is still current (the episode
    fast path does so in the same statement that writes)."""
    cached = _cache.get(name)
    pk = _source_ids.get(name)
    if cached is None or pk is None:
        return None
    return cached[1], pk, cached[0]


def catalog_cache_clear() -> None:
    """Forget every cached catalog (tests; never needed for correctness)."""
    with _cache_lock:
        _cache.clear()
        _source_ids.clear()


def catalog_records(*, source_id: int) -> dict[str, list[dict[str, Any]]]:
    """The catalog's rows in the shape of ``envcore.catalog.Catalog.to_records()``."""
    drugs = [
        dict(row)
        for row in Drug.objects.filter(catalog_id=source_id).order_by("drug_id").values("drug_id", *DRUG_FIELDS)
    ]
    rules = []
    rule_rows = DDIRule.objects.filter(catalog_id=source_id).values(
        "drug_1__drug_id", "drug_2__drug_id", *RULE_FIELDS
    )
    for row in rule_rows:
        # The database orders a pair by primary key; envcore orders it by drug_id.
        first, second = sorted((row.pop("drug_1__drug_id"), row.pop("drug_2__drug_id")))
        rules.append({"drug_id_1": first, "drug_id_2": second, **row})
    rules.sort(key=lambda r: (r["drug_id_1"], r["drug_id_2"]))
    beers = [
        {
            "drug_id": row["drug__drug_id"],
            "criterion_type": row["criterion_type"],
            "condition": row["condition"] or None,
            "rationale": row["rationale"],
            "source": row["source"],
            "confidence": row["confidence"],
        }
        for row in BeersCriterion.objects.filter(catalog_id=source_id).values(
            "drug__drug_id", "criterion_type", "condition", "rationale", "source", "confidence"
        )
    ]
    beers.sort(key=lambda r: (r["drug_id"], r["criterion_type"], r["condition"] or ""))
    regimens: dict[int, list[str]] = {}
    meds = PatientMedication.objects.filter(patient__catalog_id=source_id).order_by("patient_id", "position")
    for patient_pk, drug_id in meds.values_list("patient_id", "drug__drug_id"):
        regimens.setdefault(patient_pk, []).append(drug_id)
    patients = [
        {
            "patient_id": p.patient_id,
            "task_id": p.task_id,
            "age": p.age,
            "sex": p.sex,
            "conditions": list(p.conditions),
            "eGFR_category": p.eGFR_category,
            "liver_function_category": p.liver_function_category,
            "medication_ids": regimens.get(p.pk, []),
        }
        for p in Patient.objects.filter(catalog_id=source_id).order_by("position", "patient_id")
    ]
    return {"drugs": drugs, "ddi_rules": rules, "beers_criteria": beers, "patients": patients}
