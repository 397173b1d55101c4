"""A supervisor approves or returns a finished review; a signed-off review is immutable."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, IntegrityError, transaction

from reviews.models import AuditRecord, ReviewSession
from reviews.tests.conftest import shown
from testsupport.world import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(session, phil):
    client_for(phil).post(f"/reviews/{session.pk}/finish", shown(session, {"confirmed": "1"}))
    session.refresh_from_db()
    return session


def test_a_supervisor_approves_a_finished_review_with_a_comment(finished, sue):
    response = client_for(sue).post(f"/reviews/{finished.pk}/sign-off", {"decision": "approve", "comment": "Sound."})
    assert response.status_code == 302
    finished.refresh_from_db()
    assert (finished.status, finished.signed_off_by, finished.sign_off_comment) == ("approved", sue, "Sound.")
    assert AuditRecord.objects.filter(session=finished).order_by("-pk").first().action == AuditRecord.Action.SESSION_APPROVED


def test_returning_a_review_needs_a_comment(finished, sue):
    response = client_for(sue).post(f"/reviews/{finished.pk}/sign-off", {"decision": "return", "comment": " "})
    assert response.status_code == 422 and response.context["sign_off_form"].errors["comment"]
    finished.refresh_from_db()
    assert finished.status == "finished"


def test_a_review_in_progress_cannot_be_signed_off(session, sue):
    response = client_for(sue).post(f"/reviews/{session.pk}/sign-off", {"decision": "approve"})
    assert response.status_code == 409
    session.refresh_from_db()
    assert session.status == "in_progress"


def test_nobody_signs_off_their_own_review(finished, phil):
    phil.groups.add(Group.objects.get(name="supervisor"))
    response = client_for(phil).post(f"/reviews/{finished.pk}/sign-off", {"decision": "approve"})
    assert response.status_code == 403
    finished.refresh_from_db()
    assert finished.status == "finished"


def test_a_signed_off_review_is_immutable(finished, sue):
    client = client_for(sue)
    client.post(f"/reviews/{finished.pk}/sign-off", {"decision": "return", "comment": "Check the NSAID."})
    again = client.post(f"/reviews/{finished.pk}/sign-off", {"decision": "approve", "comment": "changed my mind"})
    assert again.status_code == 409
    finished.refresh_from_db()
    assert finished.status == "returned"
    # The database refuses too, whatever the code path.
    for attempt in (
        lambda: ReviewSession.objects.filter(pk=finished.pk).update(sign_off_comment="edited"),
        lambda: ReviewSession.objects.filter(pk=finished.pk).delete(),
    ):
        with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
            attempt()
    finished.refresh_from_db()
    assert finished.sign_off_comment == "Check the NSAID."
