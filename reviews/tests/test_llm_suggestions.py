"""LLM suggestions on the review page, against recorded answers from a real local endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agents.tests.test_llm import API_KEY, MODEL, RecordedLLMServer
from episodes.models import Step
from reviews.models import AuditRecord, ReviewSession
from reviews.tests.conftest import SAME_CLASS_SUBSTITUTE, SEVERE_PAIR, shown
from testsupport.world import client_for

pytestmark = pytest.mark.django_db

A = AuditRecord.Action
LLM_QUERY = "query tramadol + amitriptyline"  # the valid_query recording's action (SEVERE_PAIR), in words


@pytest.fixture
def llm(settings) -> Iterator[RecordedLLMServer]:
    """The site's LLM settings pointed at a local server that answers with recordings."""
    with RecordedLLMServer() as server:
        settings.LLM_API_BASE = server.api_base
        settings.LLM_API_KEY = API_KEY
        settings.LLM_MODEL = MODEL
        settings.LLM_TIMEOUT_S = 3.0
        yield server


@pytest.fixture
def no_llm(settings) -> None:
    settings.LLM_API_BASE = ""
    settings.LLM_MODEL = ""


def suggestions(session: ReviewSession) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(session=session, action=A.SUGGESTION_SHOWN).order_by("pk"))


def suggest(client, session: ReviewSession, suggester: str):
    """Post the suggest form as a browser without script does, and follow to the page."""
    response = client.post(f"/reviews/{session.pk}/suggest", shown(session, {"suggester": suggester}))
    assert response.status_code == 302, response.content.decode()[:500]
    return client.get(response["Location"])


def test_the_page_shows_the_llms_action_and_the_audit_records_source_and_model(llm, session, phil):
    page = suggest(client_for(phil), session, "llm")
    html = page.content.decode()
    assert LLM_QUERY in html and f"by the LLM ({MODEL})" in html and 'id="suggestion-fallback"' not in html
    (record,) = suggestions(session)
    assert record.payload["action"] == {"action_type": "query_ddi", "drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1]}
    assert record.payload["suggester"] == "llm" and record.payload["requested"] == "llm"
    assert record.payload["model"] == MODEL and record.payload["fallback_reason"] is None
    assert API_KEY not in json.dumps(record.payload)
    (request,) = llm.requests
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}" and request["body"]["model"] == MODEL
    assert session.episode.episode_id in llm.prompt()  # the whole observation went into the prompt


def test_the_prompt_carries_the_query_results_so_far(llm, session, phil):
    client = client_for(phil)
    client.post(f"/reviews/{session.pk}/query", shown(session, {"drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1]}))
    suggest(client, session, "llm")
    assert '"severity": "severe"' in llm.prompt() and '"remaining_query_budget": 3' in llm.prompt()


def test_an_accepted_llm_suggestion_is_taken_as_recorded(llm, session, phil):
    client = client_for(phil)
    answer = client.post(f"/reviews/{session.pk}/suggest", shown(session, {"suggester": "llm"}), HTTP_ACCEPT="application/json").json()
    assert answer["suggester"] == "llm" and answer["model"] == MODEL and answer["fallback_reason"] is None
    client.post(f"/reviews/{session.pk}/suggestion", {"suggestion_id": answer["id"], "decision": "accept"})
    step = Step.objects.get(episode=session.episode)
    assert step.action == answer["action"] and step.observation["last_query_result"]["severity"] == "severe"


def test_a_bad_llm_answer_shows_the_rule_based_suggestion_and_the_reason(llm, session, phil):
    llm.answer("wrong_class_substitute")
    html = suggest(client_for(phil), session, "llm").content.decode()
    (record,) = suggestions(session)
    assert record.payload["suggester"] == "rule-based" and record.payload["requested"] == "llm"
    assert record.payload["model"] == MODEL
    assert "proposed_new_drug_id DRUG_SERTRALINE" in record.payload["fallback_reason"]
    assert "by the rule-based suggester" in html and 'id="suggestion-fallback"' in html
    assert "DRUG_SERTRALINE (class N06AB) is not in the same therapeutic class" in html
    assert record.payload["action"]["action_type"] in ("query_ddi", "propose_intervention", "finish_review")
    assert "DRUG_SERTRALINE" not in json.dumps(record.payload["action"])


def test_an_llm_error_answer_falls_back_without_quoting_the_key(llm, session, phil):
    llm.answer("error_401")
    html = suggest(client_for(phil), session, "llm").content.decode()
    (record,) = suggestions(session)
    assert record.payload["suggester"] == "rule-based" and "HTTP 401" in record.payload["fallback_reason"]
    assert API_KEY not in html and API_KEY not in json.dumps(record.payload)


def test_a_slow_llm_falls_back_after_the_timeout(llm, settings, session, phil):
    settings.LLM_TIMEOUT_S = 0.3
    llm.answer("valid_query", delay_s=3.0)
    suggest(client_for(phil), session, "llm")
    (record,) = suggestions(session)
    assert record.payload["suggester"] == "rule-based" and "within 0.3 s" in record.payload["fallback_reason"]
    assert record.payload["latency_s"] < 1.5


def test_the_rule_based_suggester_calls_no_llm(llm, session, phil):
    html = suggest(client_for(phil), session, "rule-based").content.decode()
    (record,) = suggestions(session)
    assert record.payload["suggester"] == "rule-based" and record.payload["model"] is None
    assert record.payload["fallback_reason"] is None and llm.requests == []
    assert "by the rule-based suggester" in html


def test_the_form_offers_the_configured_model(llm, session, phil):
    html = client_for(phil).get(f"/reviews/{session.pk}/").content.decode()
    assert '<option value="llm">LLM (recorded-model)</option>' in html


def test_unconfigured_the_form_shows_the_llm_disabled_and_llm_falls_back(no_llm, session, phil):
    client = client_for(phil)
    html = client.get(f"/reviews/{session.pk}/").content.decode()
    assert '<option value="llm" disabled>LLM not configured</option>' in html
    html = suggest(client, session, "llm").content.decode()
    (record,) = suggestions(session)
    assert record.payload["suggester"] == "rule-based" and record.payload["model"] is None
    assert "not configured" in record.payload["fallback_reason"] and "not configured" in html


def test_an_unknown_suggester_is_a_400_with_the_message_at_the_field(llm, session, phil):
    response = client_for(phil).post(f"/reviews/{session.pk}/suggest", shown(session, {"suggester": "oracle"}))
    assert response.status_code == 422
    assert response.context["suggest_form"].errors["suggester"]
    assert "oracle" in response.content.decode()
    assert suggestions(session) == [] and llm.requests == []


def test_an_anonymous_caller_is_sent_to_log_in_and_spends_no_key(llm, session):
    from django.test import Client

    response = Client().post(f"/reviews/{session.pk}/suggest", shown(session, {"suggester": "llm"}))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert llm.requests == [] and suggestions(session) == []


def test_a_colleague_or_a_supervisor_cannot_make_the_site_call_the_llm(llm, session, pia, sue):
    assert client_for(pia).post(f"/reviews/{session.pk}/suggest", shown(session, {"suggester": "llm"})).status_code == 404
    refused = client_for(sue).post(f"/reviews/{session.pk}/suggest", shown(session, {"suggester": "llm"}))
    assert refused.status_code == 403
    assert "Taking steps in a review is for pharmacists (their own)." in refused.content.decode()
    assert llm.requests == [] and suggestions(session) == []


def test_a_substitution_from_the_llm_names_a_same_class_drug(llm, session, phil):
    llm.answer("fenced_substitute")
    suggest(client_for(phil), session, "llm")
    (record,) = suggestions(session)
    assert record.payload["suggester"] == "llm"
    assert (record.payload["action"]["target_drug_id"], record.payload["action"]["proposed_new_drug_id"]) == SAME_CLASS_SUBSTITUTE
