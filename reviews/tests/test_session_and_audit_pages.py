"""/reviews/ filters by pharmacist, patient, task, status, date and score; /audit/ filters actors
by prefix whatever the case, shows payloads as labelled values, downloads every record as stored
(CSV, JSON) and runs the chain check on demand; each download and check is audited."""

from __future__ import annotations

import csv
import io
import json

import pytest

from polypharmacy_site.testing import streamed
from reviews import services
from reviews.audit_chain import canonical_json
from reviews.models import AuditRecord
from reviews.tests.conftest import SEVERE_PAIR, attacker, meta, query
from testsupport.world import client_for, make_user

pytestmark = pytest.mark.django_db
A = AuditRecord.Action


@pytest.fixture
def sessions(classic, phil, pia):
    first = services.review_start(meta=meta(phil), patient_id="EP_0002", task_id="easy_screening", catalog_name="classic")
    services.review_step(first, meta=meta(phil), action=query(*SEVERE_PAIR))
    services.review_finish(first, meta=meta(phil))
    second = services.review_start(meta=meta(pia), patient_id="EP_0041", task_id="budgeted_screening", catalog_name="classic")
    return first, second


def listed(client, **params) -> list[int]:
    response = client.get("/reviews/", params)
    assert response.status_code == 200, response.content.decode()[:300]
    return [s.pk for s in response.context["page"]]


def test_sessions_filter_by_pharmacist_patient_task_status_and_score(sessions, sue):
    first, second = sessions
    client = client_for(sue)
    assert listed(client) == [second.pk, first.pk]
    assert listed(client, pharmacist="PH") == [first.pk]  # prefix, any case
    assert listed(client, patient="ep_004") == [second.pk]
    assert listed(client, task="budgeted_screening") == [second.pk]
    assert listed(client, status="finished") == [first.pk]
    assert listed(client, min_score=0.0001) == [first.pk]  # the open one has no score yet
    assert listed(client, since="2000-01-01", until="2999-01-01") == [second.pk, first.pk]
    assert listed(client, until="2000-01-01") == []


def test_a_pharmacist_has_no_pharmacist_filter_and_sees_only_their_own(sessions, phil):
    response = client_for(phil).get("/reviews/", {"pharmacist": "pia"})
    assert "pharmacist" not in response.context["form"].fields
    assert [s.pk for s in response.context["page"]] == [sessions[0].pk]


@pytest.mark.parametrize("params, field", [({"min_score": "2"}, "min_score"), ({"since": "yesterday"}, "since"),
                                           ({"min_score": "0.8", "max_score": "0.2"}, "max_score")])
def test_a_refused_session_filter_is_a_422_at_its_field_with_no_rows(sessions, sue, params, field):
    response = client_for(sue).get("/reviews/", params)
    assert response.status_code == 422 and response.context["form"].errors[field]
    assert list(response.context["page"]) == []


def test_the_audit_actor_filter_is_a_prefix_in_any_case(sessions, sue):
    make_user("philippa", "pharmacist")
    client = client_for(sue)
    for actor, expected in (("PHIL", {"phil"}), ("Pi", {"pia"}), ("phil", {"phil"})):
        rows = client.get("/audit/", {"actor": actor}).context["page"]
        assert {r.actor_label for r in rows} == expected, actor


def test_the_audit_page_shows_payloads_as_labelled_values_with_rounded_numbers(sessions, sue):
    html = client_for(sue).get("/audit/", {"action": "step.taken"}).content.decode()
    assert '<span class="k">current risk</span>' in html and '"current_risk"' not in html
    record = AuditRecord.objects.filter(action=A.STEP_TAKEN).first()
    assert f'{record.payload["current_risk"]:.3f}' in html and repr(record.payload["current_risk"]) not in html


def test_the_audit_downloads_hold_every_record_as_stored_and_are_audited(sessions, sue):
    client = client_for(sue)
    stored = list(AuditRecord.objects.filter(actor_label="phil").order_by("pk"))
    response = client.get("/audit/export.csv", {"actor": "phil"})
    assert response.status_code == 200 and response["Content-Disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(streamed(response).decode())))
    assert [int(r["id"]) for r in rows] == [r.pk for r in stored]
    assert rows[0]["hash"] == stored[0].hash and rows[0]["payload"] == canonical_json(stored[0].payload)
    document = json.loads(streamed(client.get("/audit/export.json", {"actor": "phil"})))
    assert [r["payload"] for r in document["records"]] == [r.payload for r in stored]
    exports = AuditRecord.objects.filter(action=A.AUDIT_EXPORTED, actor=sue)
    assert [(e.payload["format"], e.payload["rows"]) for e in exports] == [("csv", len(stored)), ("json", len(stored))]


def test_a_refused_audit_download_filter_is_a_json_422(sue):
    response = client_for(sue).get("/audit/export.csv", {"session": "zero"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["session"]


def test_the_chain_check_runs_from_the_page_and_is_recorded(sessions, sue):
    client = client_for(sue)
    response = client.post("/audit/verify", {"query": "actor=phil"})
    assert response.status_code == 302 and response["Location"] == "/audit/?actor=phil"
    page = client.get(response["Location"]).content.decode()
    assert "The chain verifies" in page
    record = AuditRecord.objects.filter(action=A.AUDIT_VERIFIED).get()
    assert record.payload["ok"] is True and record.payload["records"] == AuditRecord.objects.count() - 1


def test_the_chain_check_names_an_edited_record(sessions, sue):
    victim = AuditRecord.objects.filter(action=A.STEP_TAKEN).first()
    with attacker() as cursor:
        cursor.execute("UPDATE reviews_auditrecord SET actor_label = 'mallory' WHERE id = %s", [victim.pk])
    client = client_for(sue)
    page = client.get(client.post("/audit/verify").headers["Location"]).content.decode()
    assert "does not verify" in page and f"record {victim.pk}: hash mismatch" in page
