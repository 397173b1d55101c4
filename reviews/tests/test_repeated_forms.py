"""A form sent twice, or from a page older than the last step, is not applied again: the review
is shown (303) with a notice. Forms without the step they were shown at are refused (422). The
concurrent versions of these run against a real server in test_double_submit.py."""

from __future__ import annotations

import pytest

from episodes.models import Step
from reviews.models import AuditRecord, ReviewSession
from reviews.tests.conftest import PATIENT, SEVERE_PAIR, shown
from testsupport.world import client_for

pytestmark = pytest.mark.django_db

A = AuditRecord.Action
START = {"catalog": "classic", "patient_id": PATIENT, "task_id": "easy_screening"}


def query_form(at_step):
    return {"drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1], "at_step": at_step}


def test_a_query_sent_twice_takes_one_step_and_the_second_shows_a_notice(session, phil):
    client = client_for(phil)
    first = client.post(f"/reviews/{session.pk}/query", query_form(0))
    second = client.post(f"/reviews/{session.pk}/query", query_form(0))
    assert first.status_code == 302 and second.status_code == 303 and second["Location"] == f"/reviews/{session.pk}/"
    assert Step.objects.filter(episode=session.episode).count() == 1
    page = client.get(second["Location"]).content.decode()
    assert "This form was shown at step 0 and the review is now at step 1" in page and 'id="notices"' in page
    assert 'name="at_step" value="1"' in page  # the fresh page's forms name the current step


def test_a_form_from_before_a_step_taken_in_another_tab_is_not_applied(session, phil):
    assert client_for(phil).post(f"/reviews/{session.pk}/query", query_form(0)).status_code == 302  # the other tab
    response = client_for(phil).post(f"/reviews/{session.pk}/finish", {"at_step": 0, "confirmed": "1"})
    assert response.status_code == 303
    assert Step.objects.filter(episode=session.episode).count() == 1


@pytest.mark.parametrize("at_step", [None, "", "one", "-1"])
def test_a_form_without_a_valid_step_is_refused_with_a_message(session, phil, at_step):
    data = query_form(at_step)
    if at_step is None:
        del data["at_step"]
    response = client_for(phil).post(f"/reviews/{session.pk}/query", data)
    assert response.status_code == 422 and "which step of the review" in response.content.decode()
    finish = client_for(phil).post(f"/reviews/{session.pk}/finish", {} if at_step is None else {"at_step": at_step})
    assert finish.status_code == 422 and "which step of the review" in finish.context["error"]
    assert not Step.objects.filter(episode=session.episode).exists()


def test_a_form_from_a_step_not_yet_taken_is_refused(session, phil):
    response = client_for(phil).post(f"/reviews/{session.pk}/query", query_form(5))
    assert response.status_code == 422 and "ahead of the review" in response.content.decode()


def test_asking_the_same_suggester_twice_at_one_step_records_one_suggestion(session, phil):
    client = client_for(phil)
    first = client.post(f"/reviews/{session.pk}/suggest", shown(session), HTTP_ACCEPT="application/json").json()
    second = client.post(f"/reviews/{session.pk}/suggest", shown(session), HTTP_ACCEPT="application/json").json()
    assert first["id"] == second["id"]
    assert AuditRecord.objects.filter(session=session, action=A.SUGGESTION_SHOWN).count() == 1
    # Once answered, asking again is a new suggestion.
    client.post(f"/reviews/{session.pk}/suggestion", {"suggestion_id": first["id"], "decision": "ignore"})
    third = client.post(f"/reviews/{session.pk}/suggest", shown(session), HTTP_ACCEPT="application/json").json()
    assert third["id"] != first["id"]


def test_a_stale_suggest_from_the_pages_script_is_a_409_with_the_notice(session, phil):
    client = client_for(phil)
    client.post(f"/reviews/{session.pk}/query", query_form(0))
    response = client.post(f"/reviews/{session.pk}/suggest", {"at_step": 0}, HTTP_ACCEPT="application/json")
    assert response.status_code == 409 and "now at step 1" in response.json()["detail"]


def test_an_ignored_suggestion_cannot_then_be_accepted(session, phil):
    client = client_for(phil)
    answer = client.post(f"/reviews/{session.pk}/suggest", shown(session), HTTP_ACCEPT="application/json").json()
    client.post(f"/reviews/{session.pk}/suggestion", {"suggestion_id": answer["id"], "decision": "ignore"})
    response = client.post(f"/reviews/{session.pk}/suggestion", {"suggestion_id": answer["id"], "decision": "accept"})
    assert response.status_code == 303 and not Step.objects.filter(episode=session.episode).exists()
    assert "already ignored" in client.get(response["Location"]).content.decode()


def test_an_unknown_suggestion_is_a_clear_error(session, phil):
    response = client_for(phil).post(f"/reviews/{session.pk}/suggestion", {"suggestion_id": 99999, "decision": "accept"})
    assert response.status_code == 422 and "Unknown suggestion" in response.content.decode()


def test_starting_the_same_review_twice_gives_the_same_session(classic, phil):
    client = client_for(phil)
    first, second = client.post("/reviews/start", START), client.post("/reviews/start", START)
    assert (first.status_code, second.status_code) == (302, 303) and first["Location"] == second["Location"]
    assert ReviewSession.objects.count() == 1
    assert "You started this review of EP_0002" in client.get(second["Location"]).content.decode()
    # Once it is finished, starting the patient again is a new review.
    session = ReviewSession.objects.get()
    client.post(f"/reviews/{session.pk}/finish", shown(session, {"confirmed": "1"}))
    assert client.post("/reviews/start", START).status_code == 302 and ReviewSession.objects.count() == 2


def test_a_sign_off_sent_twice_is_recorded_once(session, phil, sue):
    client_for(phil).post(f"/reviews/{session.pk}/finish", shown(session, {"confirmed": "1"}))
    client = client_for(sue)
    decision = {"decision": "approve", "comment": "Sound."}
    first, second = client.post(f"/reviews/{session.pk}/sign-off", decision), client.post(f"/reviews/{session.pk}/sign-off", decision)
    assert (first.status_code, second.status_code) == (302, 303)
    assert AuditRecord.objects.filter(session=session, action=A.SESSION_APPROVED).count() == 1
    assert "You already approved this review." in client.get(second["Location"]).content.decode()
