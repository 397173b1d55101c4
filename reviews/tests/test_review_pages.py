"""A pharmacist's review through the pages: start, query, intervene, suggestions, finish."""

from __future__ import annotations

import pytest

from episodes.models import Step
from reviews.models import AuditRecord, ReviewSession
from reviews.tests.conftest import PATIENT, SAME_CLASS_SUBSTITUTE, SEVERE_PAIR, shown
from testsupport.world import client_for

pytestmark = pytest.mark.django_db

A = AuditRecord.Action


def actions(session: ReviewSession) -> list[str]:
    return list(AuditRecord.objects.filter(session=session).order_by("pk").values_list("action", flat=True))


def test_the_patient_list_filters_by_task_conditions_drugs_and_risk(classic, phil):
    client = client_for(phil)
    page = client.get("/patients/", {"catalog": "classic", "task": "easy_screening", "min_drugs": "3", "max_drugs": "3",
                                     "min_risk": "0.1"})
    assert page.status_code == 200
    rows = page.context["page"].object_list
    assert rows and all(r.task_id == "easy_screening" and r.num_drugs == 3 and r.baseline_risk >= 0.1 for r in rows)
    condition = rows[0].conditions[0]
    filtered = client.get("/patients/", {"catalog": "classic", "condition": condition}).context["page"].object_list
    assert filtered and all(condition in r.conditions for r in filtered)


def test_the_patient_list_shows_a_message_at_a_bad_filter(classic, phil):
    page = client_for(phil).get("/patients/", {"catalog": "classic", "min_risk": "2"})
    assert page.context["form"].errors["min_risk"]


def test_a_pharmacist_starts_a_live_review_of_a_patient(classic, phil):
    response = client_for(phil).post("/reviews/start", {"catalog": "classic", "patient_id": PATIENT, "task_id": "easy_screening"})
    session = ReviewSession.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reviews/{session.pk}/"
    assert session.pharmacist == phil and session.episode.live and session.episode.owner == phil
    assert actions(session) == [A.SESSION_STARTED]


def test_it_refuses_to_start_a_patient_outside_the_tasks_pool(classic, phil):
    response = client_for(phil).post("/reviews/start", {"catalog": "classic", "patient_id": PATIENT, "task_id": "complex_tradeoff"})
    assert response.status_code == 422 and not ReviewSession.objects.exists()


def test_the_review_page_shows_patient_medication_flags_budgets_and_history(session, phil):
    page = client_for(phil).get(f"/reviews/{session.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    for text in (PATIENT, "DRUG_AMITRIPTYLINE", "N06AA", "Queries left", "anticholinergic burden", "Kidney", "Liver"):
        assert text in html
    # Only same-class drugs not already taken are offered as substitutes.
    from envcore.catalog import Catalog

    catalog = Catalog.load("classic")
    regimen = set(catalog.patients[PATIENT].medication_ids)
    offered = page.context["intervention_form"].fields["proposed_new_drug_id"].widget.choices[1:]
    assert ("DRUG_AMITRIPTYLINE", [("DRUG_NORTRIPTYLINE", "Nortriptyline (DRUG_NORTRIPTYLINE)")]) in offered or any(
        t == "DRUG_AMITRIPTYLINE" for t, _ in offered)
    for target, options in offered:
        for candidate, _label in options:
            assert catalog.drugs[candidate].atc_class == catalog.drugs[target].atc_class and candidate not in regimen


def test_the_review_page_marks_the_drugs_a_condition_needs(classic, phil):
    # EP_0018 (heart failure): spironolactone and metoprolol are its only drugs of their kind
    # (envcore.indications); stopping either without a substitute is no risk reduction.
    client = client_for(phil)
    client.post("/reviews/start", {"catalog": "classic", "patient_id": "EP_0018", "task_id": "easy_screening"})
    html = client.get(f"/reviews/{ReviewSession.objects.get().pk}/").content.decode()
    assert html.count("needed for HF") == 2


def test_a_query_and_a_substitution_are_steps_like_the_apis(session, phil):
    client = client_for(phil)
    a, b = SEVERE_PAIR
    assert client.post(f"/reviews/{session.pk}/query", shown(session, {"drug_id_1": a, "drug_id_2": b})).status_code == 302
    target, new = SAME_CLASS_SUBSTITUTE
    response = client.post(f"/reviews/{session.pk}/intervene", shown(session, {
        "target_drug_id": target, "intervention_type": "substitute", "proposed_new_drug_id": new, "rationale": "severe pair",
    }))
    assert response.status_code == 302
    steps = list(Step.objects.filter(episode=session.episode).order_by("index"))
    assert [s.action["action_type"] for s in steps] == ["query_ddi", "propose_intervention"]
    assert steps[0].observation["last_query_result"]["severity"] == "severe"
    assert steps[1].observation["interventions"][0]["proposed_new_drug_id"] == new
    assert steps[0].actor == phil and steps[0].actor_label == "review:phil"
    history = client.get(f"/reviews/{session.pk}/").context["history"]
    assert [h["index"] for h in history] == [1, 2] and history[0]["badge"] == "severe"
    assert history[0]["summary"] == "query tramadol + amitriptyline" and history[0]["result"] == "avoid the combination"
    assert actions(session) == [A.SESSION_STARTED, A.STEP_TAKEN, A.STEP_TAKEN]


def test_finishing_shows_the_score_and_what_changed(session, phil):
    client = client_for(phil)
    target, new = SAME_CLASS_SUBSTITUTE
    client.post(f"/reviews/{session.pk}/intervene", shown(session, {"target_drug_id": target, "intervention_type": "substitute", "proposed_new_drug_id": new}))
    assert client.post(f"/reviews/{session.pk}/finish", shown(session, {"confirmed": "1"})).status_code == 302
    page = client.get(f"/reviews/{session.pk}/")
    session.refresh_from_db()
    assert session.status == ReviewSession.Status.FINISHED
    assert page.context["obs"].grader_score is not None
    assert page.context["no_longer_taken"] == ["amitriptyline"] and page.context["added"] == ["nortriptyline"]
    assert "Score" in page.content.decode() and 'id="query-form"' not in page.content.decode()
    assert actions(session)[-2:] == [A.STEP_TAKEN, A.SESSION_FINISHED]


def test_a_suggestion_accepted_is_taken_and_both_are_recorded(session, phil):
    client = client_for(phil)
    answer = client.post(f"/reviews/{session.pk}/suggest", shown(session), HTTP_ACCEPT="application/json").json()
    assert answer["suggester"] == "rule-based" and answer["action"]["action_type"] in ("query_ddi", "propose_intervention", "finish_review")
    assert client.post(f"/reviews/{session.pk}/suggestion", {"suggestion_id": answer["id"], "decision": "accept"}).status_code == 302
    step = Step.objects.get(episode=session.episode)
    assert step.action == {k: v for k, v in answer["action"].items()}
    assert actions(session) == [A.SESSION_STARTED, A.SUGGESTION_SHOWN, A.SUGGESTION_ACCEPTED, A.STEP_TAKEN]
    # An answered suggestion is not answered again: the review is shown with a notice.
    again = client.post(f"/reviews/{session.pk}/suggestion", {"suggestion_id": answer["id"], "decision": "accept"})
    assert again.status_code == 303 and again["Location"] == f"/reviews/{session.pk}/"
    assert "already accepted" in client.get(again["Location"]).content.decode()
    assert Step.objects.filter(episode=session.episode).count() == 1


def test_a_suggestion_ignored_is_recorded_and_takes_no_step(session, phil):
    client = client_for(phil)
    response = client.post(f"/reviews/{session.pk}/suggest", shown(session))
    suggestion_id = int(response["Location"].split("suggestion=")[1].split("#")[0])
    page = client.get(response["Location"])
    assert "Suggested:" in page.content.decode()
    client.post(f"/reviews/{session.pk}/suggestion", {"suggestion_id": suggestion_id, "decision": "ignore"})
    assert not Step.objects.filter(episode=session.episode).exists()
    assert actions(session) == [A.SESSION_STARTED, A.SUGGESTION_SHOWN, A.SUGGESTION_IGNORED]


def test_a_stale_suggestion_cannot_be_accepted(session, phil):
    client = client_for(phil)
    answer = client.post(f"/reviews/{session.pk}/suggest", shown(session), HTTP_ACCEPT="application/json").json()
    client.post(f"/reviews/{session.pk}/query", shown(session, {"drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1]}))
    response = client.post(f"/reviews/{session.pk}/suggestion", {"suggestion_id": answer["id"], "decision": "accept"})
    assert response.status_code == 409 and "moved on" in response.content.decode()
