"""Who sees what: pharmacists their own sessions, supervisors everyone's, researchers the
anonymised list, others nothing; every form needs its CSRF token."""

from __future__ import annotations

import pytest
from django.test import Client

from reviews.models import AuditRecord
from reviews.tests.conftest import PATIENT, shown
from testsupport.world import client_for

pytestmark = pytest.mark.django_db


def test_an_anonymous_visitor_is_sent_to_the_login_page(session):
    response = Client().get(f"/reviews/{session.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_user_without_a_role_is_refused(session, oscar):
    client = client_for(oscar)
    for url in (f"/reviews/{session.pk}/", "/reviews/", "/patients/", "/audit/", "/research/", f"/reviews/{session.pk}/audit"):
        assert client.get(url).status_code == 403, url


def test_a_pharmacist_cannot_see_a_colleagues_session(session, pia):
    client = client_for(pia)
    assert client.get(f"/reviews/{session.pk}/").status_code == 404
    assert client.post(f"/reviews/{session.pk}/finish").status_code == 404
    assert session.pk not in [s.pk for s in client.get("/reviews/").context["page"]]


def test_a_supervisor_watches_any_session_and_the_view_is_audited(session, sue):
    page = client_for(sue).get(f"/reviews/{session.pk}/")
    assert page.status_code == 200 and page.context["can_act"] is False
    assert 'id="query-form"' not in page.content.decode()
    viewed = AuditRecord.objects.filter(session=session, action=AuditRecord.Action.SESSION_VIEWED).get()
    assert viewed.actor == sue and viewed.user_agent == "pytest-browser/1.0"


def test_a_pharmacists_own_views_are_not_audited(session, phil):
    client_for(phil).get(f"/reviews/{session.pk}/")
    assert not AuditRecord.objects.filter(action=AuditRecord.Action.SESSION_VIEWED).exists()


def test_a_supervisor_cannot_step_someone_elses_session(session, sue):
    response = client_for(sue).post(f"/reviews/{session.pk}/query", shown(session, {"drug_id_1": "DRUG_TRAMADOL", "drug_id_2": "DRUG_IBUPROFEN"}))
    assert response.status_code == 403 and session.episode.steps.count() == 0


def test_a_researcher_sees_only_anonymised_finished_episodes(session, phil, rex):
    client_for(phil).post(f"/reviews/{session.pk}/finish", shown(session, {"confirmed": "1"}))
    client = client_for(rex)
    assert client.get(f"/reviews/{session.pk}/").status_code == 403
    page = client.get("/research/")
    html = page.content.decode()
    # One patient's review alone would single the patient out (reviews/tests/test_research.py).
    assert page.status_code == 200 and page.context["rows"] == [] and page.context["table"].suppressed == 1
    assert "phil" not in html and PATIENT not in html and "1 finished episode" in html


def test_every_form_needs_its_csrf_token(session, phil):
    client = Client(enforce_csrf_checks=True)
    client.force_login(phil)
    for url, data in (
        ("/reviews/start", {"catalog": "classic", "patient_id": PATIENT, "task_id": "easy_screening"}),
        (f"/reviews/{session.pk}/query", {"drug_id_1": "DRUG_TRAMADOL", "drug_id_2": "DRUG_IBUPROFEN"}),
        (f"/reviews/{session.pk}/finish", {}),
        (f"/reviews/{session.pk}/sign-off", {"decision": "approve"}),
    ):
        assert client.post(url, data).status_code == 403, url
    assert session.episode.steps.count() == 0
