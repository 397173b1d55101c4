"""manage.py load_catalog: loads the fixture catalogs, idempotently, and says what it did."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import BeersCriterion, CatalogSource, DDIRule, Drug, Patient, PatientMedication
from catalog.services import catalog_load
from envcore.catalog import Catalog

pytestmark = pytest.mark.django_db

HISTORY_MODELS = (CatalogSource, Drug, DDIRule, BeersCriterion, Patient, PatientMedication)


def load(*args: str) -> str:
    out = StringIO()
    call_command("load_catalog", *args, stdout=out)
    return out.getvalue()


def history_rows() -> int:
    return sum(model.history.count() for model in HISTORY_MODELS)


def test_it_loads_the_classic_catalog_and_reports_what_it_created() -> None:
    output = load("classic")

    assert output.startswith("classic: drugs 34 created, 0 updated, 0 unchanged; rules 24 created")
    assert "beers 15 created" in output and "patients 120 created" in output
    assert Drug.objects.filter(catalog__name="classic").count() == 34
    assert DDIRule.objects.filter(catalog__name="classic").count() == 24
    assert Patient.objects.filter(catalog__name="classic").count() == 120


@pytest.mark.parametrize("name", ["classic", "curated"])
def test_loading_twice_changes_nothing(name: str) -> None:
    expected = Catalog.load(name)
    load(name)
    counts = [model.objects.count() for model in HISTORY_MODELS]
    history = history_rows()
    version = CatalogSource.objects.get(name=name).version

    output = load(name)

    assert f"drugs 0 created, 0 updated, {len(expected.drugs)} unchanged" in output
    assert f"rules 0 created, 0 updated, {len(expected.rules)} unchanged" in output
    assert f"patients 0 created, 0 updated, {len(expected.patients)} unchanged" in output
    assert [model.objects.count() for model in HISTORY_MODELS] == counts
    assert history_rows() == history
    assert CatalogSource.objects.get(name=name).version == version


def test_it_loads_every_catalog_with_all() -> None:
    output = load("--all")

    assert "classic: drugs 34 created" in output
    assert "curated: drugs" in output
    assert set(CatalogSource.objects.values_list("name", flat=True)) == {"classic", "curated"}


def test_it_records_the_load_as_the_reason_in_the_history() -> None:
    load("classic")

    rule = DDIRule.objects.filter(catalog__name="classic").first()
    assert rule.history.get().history_change_reason == "load_catalog classic"


def test_it_restores_a_row_that_differs_from_the_fixture_and_bumps_the_version(classic: CatalogSource) -> None:
    rule = DDIRule.objects.filter(catalog=classic).first()
    original = rule.base_risk_score
    rule.base_risk_score = 0.01
    rule.save()
    version = CatalogSource.objects.get(pk=classic.pk).version

    report = catalog_load(name="classic")

    assert (report.rules.updated, report.rules.unchanged) == (1, 23)
    rule.refresh_from_db()
    assert rule.base_risk_score == original
    assert report.version == version + 1


def test_it_restores_a_changed_regimen(classic: CatalogSource) -> None:
    patient = Patient.objects.filter(catalog=classic).first()
    patient.regimen.order_by("position").last().delete()

    report = catalog_load(name="classic")

    assert report.patients.updated == 1
    expected = list(Catalog.load("classic").patients[patient.patient_id].medication_ids)
    assert list(patient.regimen.order_by("position").values_list("drug__drug_id", flat=True)) == expected


def test_it_keeps_rows_the_fixture_lacks_unless_asked_to_prune(classic: CatalogSource) -> None:
    records = Catalog.load("classic").to_records()
    dropped = records["ddi_rules"].pop()

    kept = catalog_load(name="classic", records=records)
    pruned = catalog_load(name="classic", records=records, prune=True)

    assert kept.rules.deleted == 0
    assert pruned.rules.deleted == 1
    assert not DDIRule.objects.filter(
        catalog=classic, drug_1__drug_id__in=[dropped["drug_id_1"], dropped["drug_id_2"]],
        drug_2__drug_id__in=[dropped["drug_id_1"], dropped["drug_id_2"]],
    ).exists()  # fmt: skip


def test_it_refuses_an_unknown_catalog_name() -> None:
    with pytest.raises(CommandError, match="Unknown catalog 'modern'"):
        load("modern")


def test_it_asks_for_a_name_when_given_none() -> None:
    with pytest.raises(CommandError, match="Name a catalog"):
        load()
