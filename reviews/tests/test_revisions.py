"""Returned reviews are revised as new sessions linked to them, by their own pharmacist, once;
supervisors comment on steps until the sign-off; every one of these is audited."""

from __future__ import annotations

import pytest

from reviews import revisions, services
from reviews.audit import audit_verify
from reviews.models import AuditRecord, ReviewSession
from reviews.tests.conftest import PATIENT, SEVERE_PAIR, meta, query
from testsupport.world import client_for

pytestmark = pytest.mark.django_db
A = AuditRecord.Action


@pytest.fixture
def returned(session, phil, sue) -> ReviewSession:
    services.review_step(session, meta=meta(phil), action=query(*SEVERE_PAIR))
    services.review_finish(session, meta=meta(phil))
    services.review_sign_off(session, meta=meta(sue), approve=False, comment="Treat the severe pair.")
    return ReviewSession.objects.select_related("episode").get(pk=session.pk)


def test_a_returned_review_is_revised_as_a_new_linked_session_from_the_start(returned, phil):
    response = client_for(phil).post(f"/reviews/{returned.pk}/revise")
    revision = ReviewSession.objects.get(revision_of=returned)
    assert response.status_code == 302 and response["Location"] == f"/reviews/{revision.pk}/"
    assert revision.pharmacist == phil and revision.status == ReviewSession.Status.IN_PROGRESS
    assert (revision.episode.patient_id, revision.episode.task_id, revision.episode.step_count) == (PATIENT, "easy_screening", 0)
    assert revision.episode_id != returned.episode_id and revisions.revision_number(revision) == 2
    record = AuditRecord.objects.filter(session=revision).get()
    assert record.action == A.SESSION_REVISED and record.payload["revision_of"] == returned.pk
    returned.refresh_from_db()
    assert returned.status == ReviewSession.Status.RETURNED  # the returned review is left as it was
    page = client_for(phil).get(f"/reviews/{revision.pk}/").content.decode()
    assert "Treat the severe pair." in page and "revision 2" in page and 'id="previous-steps"' in page


def test_revising_twice_gives_the_first_revision(returned, phil):
    client = client_for(phil)
    first = client.post(f"/reviews/{returned.pk}/revise")
    again = client.post(f"/reviews/{returned.pk}/revise")
    assert again.status_code == 303 and again["Location"] == first["Location"]
    assert ReviewSession.objects.filter(revision_of=returned).count() == 1


def test_only_its_pharmacist_revises_only_a_returned_review(returned, session, phil, pia, sue, classic):
    assert client_for(pia).post(f"/reviews/{returned.pk}/revise").status_code == 404
    assert client_for(sue).post(f"/reviews/{returned.pk}/revise").status_code == 403
    other = services.review_start(meta=meta(phil), patient_id="EP_0006", task_id="easy_screening", catalog_name="classic")
    assert client_for(phil).post(f"/reviews/{other.pk}/revise").status_code == 409
    assert not ReviewSession.objects.filter(revision_of__isnull=False).exists()


def test_the_revision_is_resubmitted_and_approved_and_the_chain_verifies(returned, phil, sue):
    revision = revisions.review_revise(returned, meta=meta(phil))
    services.review_step(revision, meta=meta(phil), action={
        "action_type": "propose_intervention", "target_drug_id": SEVERE_PAIR[0], "intervention_type": "stop"})
    services.review_finish(revision, meta=meta(phil))
    services.review_sign_off(revision, meta=meta(sue), approve=True, comment="")
    revision.refresh_from_db()
    assert revision.status == ReviewSession.Status.APPROVED and audit_verify().ok


def test_a_supervisor_comments_on_a_step_and_the_page_shows_it(session, phil, sue):
    services.review_step(session, meta=meta(phil), action=query(*SEVERE_PAIR))
    response = client_for(sue).post(f"/reviews/{session.pk}/comment", {"index": 1, "comment": "Good first pair."})
    assert response.status_code == 302 and response["Location"].endswith("#step-1")
    record = AuditRecord.objects.get(action=A.STEP_COMMENTED)
    assert record.actor == sue and record.payload == {"index": 1, "comment": "Good first pair."}
    assert "Good first pair." in client_for(phil).get(f"/reviews/{session.pk}/").content.decode()


def test_the_same_comment_sent_twice_is_recorded_once(session, phil, sue):
    services.review_step(session, meta=meta(phil), action=query(*SEVERE_PAIR))
    client = client_for(sue)
    client.post(f"/reviews/{session.pk}/comment", {"index": 1, "comment": "Check the dose."})
    again = client.post(f"/reviews/{session.pk}/comment", {"index": 1, "comment": "Check the dose."})
    assert again.status_code == 303 and again["Location"] == f"/reviews/{session.pk}/"
    assert AuditRecord.objects.filter(action=A.STEP_COMMENTED).count() == 1


@pytest.mark.parametrize("data, status", [
    ({"index": 1, "comment": "  "}, 422), ({"index": 7, "comment": "No such step."}, 422),
    ({"index": "x", "comment": "Bad index."}, 422), ({"index": 1, "comment": "x" * 2001}, 422),
])
def test_a_bad_comment_is_refused_with_nothing_recorded(session, phil, sue, data, status):
    services.review_step(session, meta=meta(phil), action=query(*SEVERE_PAIR))
    assert client_for(sue).post(f"/reviews/{session.pk}/comment", data).status_code == status
    assert not AuditRecord.objects.filter(action=A.STEP_COMMENTED).exists()


def test_only_another_supervisor_comments_and_not_after_the_sign_off(returned, phil, sue):
    assert client_for(phil).post(f"/reviews/{returned.pk}/comment", {"index": 1, "comment": "Mine."}).status_code == 403
    assert client_for(sue).post(f"/reviews/{returned.pk}/comment", {"index": 1, "comment": "Late."}).status_code == 409
    assert not AuditRecord.objects.filter(action=A.STEP_COMMENTED).exists()
