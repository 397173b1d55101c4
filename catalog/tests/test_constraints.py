"""The database itself rejects rows that would break envcore's assumptions."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

import envcore.catalog
from catalog import models
from catalog.models import CatalogSource, DDIRule, Drug, Patient, PatientMedication

pytestmark = pytest.mark.django_db


@pytest.fixture
def source() -> CatalogSource:
    return CatalogSource.objects.create(name="tiny")


def make_drug(source: CatalogSource, drug_id: str, **fields: object) -> Drug:
    values = {"generic_name": drug_id.lower(), "atc_class": "B01AA", "default_dose_mg": 5, "min_dose_mg": 1,
              "max_dose_mg": 10, **fields}  # fmt: skip
    return Drug.objects.create(catalog=source, drug_id=drug_id, **values)


@pytest.fixture
def pair(source: CatalogSource) -> tuple[Drug, Drug]:
    return make_drug(source, "DRUG_A"), make_drug(source, "DRUG_B")


def rule(source: CatalogSource, first: Drug, second: Drug, **fields: object) -> DDIRule:
    values = {"severity": "severe", "recommendation": "avoid_combination", "base_risk_score": 0.8, **fields}
    return DDIRule(catalog=source, drug_1=first, drug_2=second, **values)


def rejected(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


def test_it_stores_a_pair_in_canonical_order(source: CatalogSource, pair: tuple[Drug, Drug]) -> None:
    first, second = pair
    saved = rule(source, second, first)
    saved.save()

    assert (saved.drug_1_id, saved.drug_2_id) == (first.pk, second.pk)


def test_it_rejects_the_reversed_duplicate_of_a_pair(source: CatalogSource, pair: tuple[Drug, Drug]) -> None:
    first, second = pair
    rule(source, first, second).save()

    # save() canonicalises, so the reversed pair collides with the unique constraint...
    assert rejected(lambda: DDIRule.objects.create(**_fields(rule(source, second, first))))
    # ...and bulk_create, which bypasses save(), hits the ordering check.
    assert rejected(lambda: DDIRule.objects.bulk_create([rule(source, second, first)]))


def test_it_rejects_a_rule_on_one_drug_twice(source: CatalogSource, pair: tuple[Drug, Drug]) -> None:
    first, _ = pair

    assert rejected(lambda: DDIRule.objects.bulk_create([rule(source, first, first)]))


@pytest.mark.parametrize("score", [1.5, -0.1])
def test_it_rejects_a_risk_score_outside_0_and_1(source: CatalogSource, pair: tuple[Drug, Drug], score: float) -> None:
    assert rejected(lambda: DDIRule.objects.bulk_create([rule(source, *pair, base_risk_score=score)]))


def test_it_rejects_an_unknown_severity(source: CatalogSource, pair: tuple[Drug, Drug]) -> None:
    assert rejected(lambda: DDIRule.objects.bulk_create([rule(source, *pair, severity="catastrophic")]))


def test_it_rejects_doses_out_of_order(source: CatalogSource) -> None:
    assert rejected(lambda: make_drug(source, "DRUG_C", default_dose_mg=20))
    assert rejected(lambda: make_drug(source, "DRUG_D", min_dose_mg=6))


def test_it_rejects_a_drug_id_twice_in_one_catalog_but_not_in_two(source: CatalogSource) -> None:
    make_drug(source, "DRUG_A")
    other = CatalogSource.objects.create(name="other")

    assert rejected(lambda: make_drug(source, "DRUG_A"))
    assert not rejected(lambda: make_drug(other, "DRUG_A"))


def test_it_rejects_a_drug_twice_in_one_regimen(source: CatalogSource, pair: tuple[Drug, Drug]) -> None:
    patient = Patient.objects.create(catalog=source, patient_id="P1", position=0, task_id="easy_screening", age=80,
                                     sex="F", eGFR_category="normal", liver_function_category="normal")  # fmt: skip
    PatientMedication.objects.create(patient=patient, drug=pair[0], position=0)

    assert rejected(lambda: PatientMedication.objects.create(patient=patient, drug=pair[0], position=1))
    assert rejected(lambda: PatientMedication.objects.create(patient=patient, drug=pair[1], position=0))


def test_the_vocabularies_are_envcores() -> None:
    assert models.SEVERITIES == envcore.catalog.SEVERITIES
    assert models.RECOMMENDATIONS == envcore.catalog.RECOMMENDATIONS
    assert models.BEERS_TYPES == envcore.catalog.BEERS_TYPES
    assert models.TASK_IDS == envcore.catalog.TASK_IDS
    assert models.SEXES == envcore.catalog.SEXES
    assert models.EGFR_CATEGORIES == envcore.catalog.ORGAN_FUNCTION["eGFR_category"]
    assert models.LIVER_CATEGORIES == envcore.catalog.ORGAN_FUNCTION["liver_function_category"]


def _fields(obj: DDIRule) -> dict[str, object]:
    names = ("catalog", "drug_1", "drug_2", "severity", "recommendation", "base_risk_score")
    return {name: getattr(obj, name) for name in names}
