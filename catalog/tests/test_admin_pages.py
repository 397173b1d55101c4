"""Every curation page renders for a curator: lists with their filters, and change forms."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from catalog.models import BeersCriterion, CatalogSource, DDIRule, Drug, Patient

pytestmark = pytest.mark.django_db

MODELS = [CatalogSource, Drug, DDIRule, BeersCriterion, Patient]


@pytest.fixture
def client(carla: User) -> Client:
    client = Client()
    client.force_login(carla)
    return client


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_list_and_the_change_form_render(client: Client, classic: CatalogSource, model: type[Model]) -> None:
    opts = model._meta
    obj = model._default_manager.first()

    assert client.get(reverse(f"admin:catalog_{opts.model_name}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:catalog_{opts.model_name}_change", args=[obj.pk])).status_code == 200
    assert client.get(reverse(f"admin:catalog_{opts.model_name}_history", args=[obj.pk])).status_code == 200


def test_the_drug_search_feeds_the_rule_form(client: Client, classic: CatalogSource) -> None:
    response = client.get(
        reverse("admin:autocomplete"),
        {"term": "warf", "app_label": "catalog", "model_name": "ddirule", "field_name": "drug_1"},
    )

    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["warfarin [DRUG_WARFARIN, classic]"]


def test_a_patient_shows_its_regimen_in_order(client: Client, classic: CatalogSource) -> None:
    patient = Patient.objects.filter(catalog=classic).first()

    response = client.get(reverse("admin:catalog_patient_change", args=[patient.pk]))

    formset = response.context["inline_admin_formsets"][0].formset
    shown = [form.instance.drug.drug_id for form in formset.forms]
    assert shown == list(patient.regimen.order_by("position").values_list("drug__drug_id", flat=True))
