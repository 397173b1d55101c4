"""The review page's guards and reads, through real requests: a finish (or an accepted "finish"
suggestion) is confirmed first, a pair already asked is refused unless asked again on purpose,
spent budgets disable their buttons, suggestions say why, and the live fragments are the page's
own regions (a colleague's fetch audited)."""

from __future__ import annotations

import re

import pytest

from agents.llm import Suggestion
from episodes.models import Step
from reviews import services
from reviews.models import AuditRecord, ReviewSession
from reviews.tests.conftest import SEVERE_PAIR, query, shown
from testsupport.world import client_for

pytestmark = pytest.mark.django_db
A = AuditRecord.Action


def test_finishing_without_the_confirmation_asks_for_it_and_does_nothing(session, phil):
    client = client_for(phil)
    page = client.post(f"/reviews/{session.pk}/finish", shown(session))
    html = page.content.decode()
    assert page.status_code == 200 and 'id="confirm"' in html and "Yes, finish the review" in html
    session.refresh_from_db()
    assert session.status == ReviewSession.Status.IN_PROGRESS and not Step.objects.exists()
    # The confirmation's own form finishes it.
    assert 'name="confirmed" value="1"' in html
    assert client.post(f"/reviews/{session.pk}/finish", shown(session, {"confirmed": "1"})).status_code == 302
    session.refresh_from_db()
    assert session.status == ReviewSession.Status.FINISHED


def test_accepting_a_finish_suggestion_is_confirmed_first(session, phil, monkeypatch):
    monkeypatch.setitem(services.SUGGESTERS, "rule-based", lambda obs, catalog, arg: Suggestion(
        {"action_type": "finish_review"}, "rule-based", None, None, 0.0, None))
    client = client_for(phil)
    answer = client.post(f"/reviews/{session.pk}/suggest", shown(session), HTTP_ACCEPT="application/json").json()
    assert answer["text"] == "finish the review" and "data-confirm" in answer["html"]
    asked = client.post(f"/reviews/{session.pk}/suggestion", {"suggestion_id": answer["id"], "decision": "accept"})
    assert asked.status_code == 200 and 'id="confirm"' in asked.content.decode() and not Step.objects.exists()
    done = client.post(f"/reviews/{session.pk}/suggestion",
                       {"suggestion_id": answer["id"], "decision": "accept", "confirmed": "1"})
    assert done.status_code == 302 and Step.objects.get().action == {"action_type": "finish_review"}


def test_a_pair_already_asked_is_refused_unless_asked_again_on_purpose(session, phil):
    client = client_for(phil)
    client.post(f"/reviews/{session.pk}/query", shown(session, {"drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1]}))
    reverse = {"drug_id_1": SEVERE_PAIR[1], "drug_id_2": SEVERE_PAIR[0]}
    refused = client.post(f"/reviews/{session.pk}/query", shown(session, reverse))
    assert refused.status_code == 422
    assert refused.context["query_form"].errors["drug_id_2"] == [
        "Tramadol + amitriptyline was already asked at step 1 (severe): asking again spends a query and earns "
        "nothing. Tick “Ask again anyway” to spend one."]
    assert Step.objects.count() == 1 and refused.context["obs"].remaining_query_budget == 3
    assert AuditRecord.objects.order_by("-pk").first().action == A.STEP_REJECTED
    again = client.post(f"/reviews/{session.pk}/query", shown(session, {**reverse, "repeat": "on"}))
    assert again.status_code == 302 and again["Location"].endswith("#last-result") and Step.objects.count() == 2


def test_a_spent_budget_disables_its_button(session, phil):
    for pair in (SEVERE_PAIR, ("DRUG_IBUPROFEN", "DRUG_TRAMADOL"), ("DRUG_IBUPROFEN", "DRUG_AMITRIPTYLINE")):
        services.review_step(session, meta=_meta(phil), action=query(*pair))
    html = client_for(phil).get(f"/reviews/{session.pk}/").content.decode()
    assert re.search(r'id="query-button"\s*>', html)  # one query left: enabled
    services.review_step(session, meta=_meta(phil), action=query(*SEVERE_PAIR))
    html = client_for(phil).get(f"/reviews/{session.pk}/").content.decode()
    assert 'id="query-button" disabled' in html and "No queries left" in html
    assert 'id="propose-button" disabled' not in html


def test_a_rule_based_suggestion_says_which_rule_fired(session, phil):
    answer = client_for(phil).post(f"/reviews/{session.pk}/suggest", shown(session), HTTP_ACCEPT="application/json").json()
    assert answer["reason"].startswith("The unasked pair that looks riskiest")
    assert "Why: The unasked pair" in answer["html"] and "DRUG_" not in answer["text"]
    assert AuditRecord.objects.get(pk=answer["id"]).payload["reason"] == answer["reason"]


def test_the_live_fragments_are_the_pages_regions_and_a_colleagues_fetch_is_audited(session, phil, sue):
    services.review_step(session, meta=_meta(phil), action=query(*SEVERE_PAIR))
    own = client_for(phil).get(f"/reviews/{session.pk}/live").json()
    assert own["step_index"] == 1 and own["live"] and not own["done"]
    page = client_for(phil).get(f"/reviews/{session.pk}/").content.decode()
    for element, html in own["fragments"].items():
        assert html.strip()[:60] in page, element
    assert 'class="badge b-severe sev-severe"' in own["fragments"]["history-card"]
    assert not AuditRecord.objects.filter(action=A.SESSION_VIEWED).exists()
    watched = client_for(sue).get(f"/reviews/{session.pk}/live").json()
    assert "sign-off-form" not in watched["fragments"]["sign-off-region"]  # not finished yet
    assert AuditRecord.objects.filter(action=A.SESSION_VIEWED, actor=sue, payload__page="live").count() == 1
    services.review_finish(session, meta=_meta(phil))
    finished = client_for(sue).get(f"/reviews/{session.pk}/live").json()
    assert finished["done"] and 'id="sign-off-form"' in finished["fragments"]["sign-off-region"]
    services.review_sign_off(session, meta=_meta(sue), approve=True, comment="")
    assert client_for(sue).get(f"/reviews/{session.pk}/live").json()["live"] is False


def _meta(user):
    from reviews.tests.conftest import meta

    return meta(user)
