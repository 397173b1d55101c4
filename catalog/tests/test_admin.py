"""Curation in the admin: edits keep a history, bad edits are refused at the field, outsiders stay out."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from catalog.models import CatalogSource, DDIRule, Drug
from catalog.selectors import catalog_get

pytestmark = pytest.mark.django_db

RULE_FORM_FIELDS = ("catalog", "drug_1", "drug_2", "severity", "recommendation", "base_risk_score", "mechanism",
                    "source", "confidence")  # fmt: skip


@pytest.fixture
def rule(classic: CatalogSource) -> DDIRule:
    return DDIRule.objects.select_related("drug_1", "drug_2").get(
        catalog=classic, drug_1__drug_id__in=["DRUG_WARFARIN", "DRUG_IBUPROFEN"],
        drug_2__drug_id__in=["DRUG_WARFARIN", "DRUG_IBUPROFEN"],
    )  # fmt: skip


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rule_form(rule: DDIRule, **changes: object) -> dict[str, object]:
    """The change form as the browser would post it, with ``changes`` applied."""
    data = {}
    for name in RULE_FORM_FIELDS:
        value = getattr(rule, f"{name}_id" if name in ("catalog", "drug_1", "drug_2") else name)
        data[name] = value
    data.update(changes)
    data["_save"] = "Save"
    return data


def change_url(rule: DDIRule) -> str:
    return reverse("admin:catalog_ddirule_change", args=[rule.pk])


def test_a_curator_edits_a_rule_and_the_history_shows_who_changed_what(carla: User, rule: DDIRule) -> None:
    client = signed_in(carla)
    original = rule.base_risk_score

    response = client.post(change_url(rule), rule_form(rule, base_risk_score=0.42))

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    rule.refresh_from_db()
    assert rule.base_risk_score == 0.42
    latest = rule.history.latest()
    assert latest.history_user == carla
    delta = latest.diff_against(latest.prev_record)
    assert delta.changed_fields == ["base_risk_score"]
    assert (delta.changes[0].old, delta.changes[0].new) == (original, 0.42)

    page = client.get(reverse("admin:catalog_ddirule_history", args=[rule.pk]))
    assert page.status_code == 200
    html = " ".join(page.content.decode().split())
    assert "carla" in html
    assert f"<strong>Base risk score:</strong> {original} &nbsp;&rarr;&nbsp;&nbsp;0.42" in html


def test_an_admin_edit_reaches_the_environment_catalog(carla: User, rule: DDIRule) -> None:
    before = catalog_get("classic")

    signed_in(carla).post(change_url(rule), rule_form(rule, base_risk_score=0.42))

    after = catalog_get("classic")
    assert after.rule("DRUG_WARFARIN", "DRUG_IBUPROFEN").base_risk_score == 0.42
    assert before.rule("DRUG_WARFARIN", "DRUG_IBUPROFEN").base_risk_score != 0.42


def form_errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200, "the form should be shown again with errors"
    return response.context["adminform"].form.errors


def test_it_refuses_a_rule_on_one_drug_twice(carla: User, rule: DDIRule) -> None:
    response = signed_in(carla).post(change_url(rule), rule_form(rule, drug_2=rule.drug_1_id))

    errors = form_errors(response)
    assert errors["drug_2"] == ["A rule needs two different drugs; drug_2 is the same as drug_1."]
    assert "A rule needs two different drugs" in response.content.decode()


def test_it_refuses_a_risk_score_above_one(carla: User, rule: DDIRule) -> None:
    response = signed_in(carla).post(change_url(rule), rule_form(rule, base_risk_score=1.5))

    assert form_errors(response)["base_risk_score"] == ["Must be between 0 and 1."]
    rule.refresh_from_db()
    assert rule.base_risk_score != 1.5


def test_it_refuses_an_unknown_drug(carla: User, rule: DDIRule) -> None:
    response = signed_in(carla).post(change_url(rule), rule_form(rule, drug_1=999_999))

    assert "drug_1" in form_errors(response)


def test_it_refuses_a_drug_from_another_catalog(carla: User, rule: DDIRule) -> None:
    other = CatalogSource.objects.create(name="other")
    stranger = Drug.objects.create(catalog=other, drug_id="DRUG_X", generic_name="x", atc_class="B01AA")

    response = signed_in(carla).post(change_url(rule), rule_form(rule, drug_2=stranger.pk))

    assert "belongs to the other catalog" in form_errors(response)["drug_2"][0]


def test_it_refuses_a_pair_that_already_has_a_rule(carla: User, rule: DDIRule) -> None:
    other = DDIRule.objects.filter(catalog=rule.catalog).exclude(pk=rule.pk).first()

    response = signed_in(carla).post(change_url(rule), rule_form(rule, drug_1=other.drug_2_id, drug_2=other.drug_1_id))

    assert "already exists" in form_errors(response)["drug_2"][0]


def test_it_lets_a_curator_search_and_filter_rules(carla: User, classic: CatalogSource) -> None:
    url = reverse("admin:catalog_ddirule_changelist")

    response = signed_in(carla).get(url, {"q": "warfarin", "severity": "severe"})

    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown and all(r.severity == "severe" for r in shown)
    assert all("warfarin" in (r.drug_1.generic_name + r.drug_2.generic_name) for r in shown)


def test_it_filters_rules_by_atc_class_of_either_drug(carla: User, classic: CatalogSource) -> None:
    response = signed_in(carla).get(reverse("admin:catalog_ddirule_changelist"), {"atc_class": "B01AA"})

    shown = list(response.context["cl"].result_list)
    assert shown and all("B01AA" in (r.drug_1.atc_class, r.drug_2.atc_class) for r in shown)


def test_a_non_staff_user_is_sent_to_the_login_page(oscar: User, rule: DDIRule) -> None:
    response = signed_in(oscar).get(change_url(rule))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_an_anonymous_visitor_is_sent_to_the_login_page(rule: DDIRule) -> None:
    response = Client().get(reverse("admin:catalog_ddirule_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_curator_rights_cannot_edit_rules(rule: DDIRule) -> None:
    # The admin is for curators and superusers (accounts.permissions): the staff flag alone opens
    # nothing, and the page sends the account to the admin's login like any outsider.
    staff = User.objects.create_user("sam", is_staff=True)
    before = rule.base_risk_score

    client = signed_in(staff)

    assert client.get(change_url(rule))["Location"].startswith(reverse("admin:login"))
    assert client.post(change_url(rule), rule_form(rule, base_risk_score=0.1)).status_code == 302
    rule.refresh_from_db()
    assert rule.base_risk_score == before


def test_an_admin_edit_records_who_made_it_as_the_reason_never_none(carla: User, rule: DDIRule) -> None:
    client = signed_in(carla)
    client.post(change_url(rule), rule_form(rule, base_risk_score=0.42))
    assert rule.history.latest().history_change_reason == "Edited in the admin by carla"
    html = client.get(reverse("admin:catalog_ddirule_history", args=[rule.pk])).content.decode()
    assert "Edited in the admin by carla" in html and "<td>None</td>" not in " ".join(html.split()).replace("> ", ">")


def test_a_drug_with_both_doses_out_of_order_gets_both_errors(classic: CatalogSource) -> None:
    admin_user = User.objects.create_superuser("root", password="x")
    drug = Drug.objects.get(catalog=classic, drug_id="DRUG_WARFARIN")
    form = {f: getattr(drug, f"{f}_id" if f == "catalog" else f) for f in (
        "catalog", "drug_id", "generic_name", "atc_code", "atc_class", "atc_class_name", "anticholinergic_score",
        "frequency", "route", "source", "confidence")}
    form.update({"is_high_risk_elderly": "", "is_critical": "", "min_dose_mg": 10, "default_dose_mg": 5,
                 "max_dose_mg": 2, "_save": "Save"})
    form = {k: ("" if v is None else v) for k, v in form.items()}
    response = signed_in(admin_user).post(reverse("admin:catalog_drug_change", args=[drug.pk]), form)
    errors = form_errors(response)
    assert errors["min_dose_mg"] == ["Must not exceed the default dose."]
    assert errors["max_dose_mg"] == ["Must not be below the default dose."]
