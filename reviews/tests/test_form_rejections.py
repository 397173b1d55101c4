"""A well-formed action the environment would refuse is a field error on the page, in plain
words (drug names, not ids or field names), not a step; the audit trail records the rejection,
with the environment's own message, and nothing else."""

from __future__ import annotations

import pytest

from episodes.models import Step
from reviews.models import AuditRecord
from reviews.tests.conftest import SAME_CLASS_SUBSTITUTE, SEVERE_PAIR, shown
from testsupport.world import client_for

pytestmark = pytest.mark.django_db


def post_rejected(client, url, data, field):
    steps_before = Step.objects.count()
    response = client.post(url, shown(int(url.split("/")[2]), data))
    assert response.status_code == 422
    form = response.context["query_form"] if "query" in url else response.context["intervention_form"]
    assert Step.objects.count() == steps_before
    return form.errors[field][0], response


def last_audit():
    return AuditRecord.objects.order_by("-pk").first()


def test_it_rejects_a_drug_outside_the_regimen_at_the_field(session, phil):
    message, response = post_rejected(
        client_for(phil), f"/reviews/{session.pk}/query", {"drug_id_1": "DRUG_TRAMADOL", "drug_id_2": "DRUG_WARFARIN"}, "drug_id_2",
    )
    assert message == "Warfarin is not in the patient's current regimen (it was stopped or replaced, or never taken)."
    assert message in response.content.decode().replace("&#x27;", "'")
    assert 'aria-invalid="true"' in response.content.decode()
    record = last_audit()
    assert record.action == AuditRecord.Action.STEP_REJECTED and record.payload["field"] == "drug_id_2"
    assert record.payload["message"] == "drug_id_2 'DRUG_WARFARIN' is not in the current regimen."


def test_it_rejects_a_substitute_of_another_class_at_the_substitute_field(session, phil):
    message, _ = post_rejected(client_for(phil), f"/reviews/{session.pk}/intervene", {
        "target_drug_id": "DRUG_AMITRIPTYLINE", "intervention_type": "substitute", "proposed_new_drug_id": "DRUG_WARFARIN",
    }, "proposed_new_drug_id")
    assert message == "Warfarin (B01AA) is not in the same class as amitriptyline (N06AA): a substitute must be of the same class."
    assert last_audit().action == AuditRecord.Action.STEP_REJECTED


def test_it_rejects_an_action_once_the_budget_is_exhausted(session, phil):
    client = client_for(phil)
    # easy_screening: 2 interventions.
    client.post(f"/reviews/{session.pk}/intervene", shown(session, {"target_drug_id": "DRUG_IBUPROFEN", "intervention_type": "add_monitoring"}))
    target, new = SAME_CLASS_SUBSTITUTE
    client.post(f"/reviews/{session.pk}/intervene", shown(session, {"target_drug_id": target, "intervention_type": "substitute", "proposed_new_drug_id": new}))
    assert Step.objects.count() == 2
    response = client.post(f"/reviews/{session.pk}/intervene", shown(session, {"target_drug_id": "DRUG_TRAMADOL", "intervention_type": "stop"}))
    assert response.status_code == 422 and Step.objects.count() == 2
    message = "No interventions left: this task's intervention budget is spent."
    assert response.context["intervention_form"].non_field_errors() == [message]
    assert message in response.content.decode().replace("&#x27;", "'")


def test_it_rejects_a_malformed_form_without_any_record(session, phil):
    before = AuditRecord.objects.count()
    response = client_for(phil).post(f"/reviews/{session.pk}/intervene", shown(session, {"target_drug_id": "DRUG_TRAMADOL", "intervention_type": "explode"}))
    assert response.status_code == 422 and response.context["intervention_form"].errors["intervention_type"]
    assert AuditRecord.objects.count() == before and not Step.objects.exists()


def test_a_rejected_query_leaves_the_budget_untouched(session, phil):
    client = client_for(phil)
    response = client.post(f"/reviews/{session.pk}/query", shown(session, {"drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[0]}))
    assert response.context["query_form"].errors["drug_id_2"] == [
        "Choose two different drugs: a drug cannot be queried with itself."]
    page = client.get(f"/reviews/{session.pk}/")
    assert page.context["obs"].remaining_query_budget == 4 and page.context["obs"].step_index == 0
