"""The audit trail: append-only in the database, a hash chain that ``verify_audit`` checks."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction

from reviews.audit import audit_verify
from reviews.models import AuditRecord
from reviews.tests.conftest import SEVERE_PAIR, attacker, shown
from testsupport.world import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(session, phil, sue):
    """A few records of every kind a review makes."""
    client = client_for(phil)
    client.post(f"/reviews/{session.pk}/query", shown(session, {"drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1]}))
    client.post(f"/reviews/{session.pk}/query", shown(session, {"drug_id_1": SEVERE_PAIR[0], "drug_id_2": "DRUG_WARFARIN"}))
    client.post(f"/reviews/{session.pk}/suggest", shown(session))
    client.post(f"/reviews/{session.pk}/finish", shown(session, {"confirmed": "1"}))
    client_for(sue).post(f"/reviews/{session.pk}/sign-off", {"decision": "approve", "comment": "Fine — «ok»"})
    return list(AuditRecord.objects.order_by("pk"))


def run_verify_audit() -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def test_every_action_of_a_review_is_recorded_with_who_when_and_where(trail, phil, sue):
    kinds = [r.action for r in trail]
    assert kinds == [
        "session.started", "step.taken", "step.rejected", "suggestion.shown", "step.taken", "session.finished",
        "session.approved",
    ]
    assert trail[1].actor == phil and trail[1].ip == "127.0.0.1" and trail[1].user_agent == "pytest-browser/1.0"
    assert trail[-1].actor == sue and trail[-1].payload["comment"] == "Fine — «ok»"


def test_verify_audit_passes_on_real_data(trail):
    assert run_verify_audit().splitlines()[0] == f"{len(trail)} records verified"


def test_the_database_refuses_to_update_or_delete_a_record(trail):
    record = trail[2]
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        AuditRecord.objects.filter(pk=record.pk).update(payload={"forged": True})
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM reviews_auditrecord WHERE id = %s", [record.pk])
    assert audit_verify().ok


def test_verify_audit_names_an_edited_record(trail):
    record = trail[3]
    with attacker() as cursor:
        cursor.execute("UPDATE reviews_auditrecord SET actor_label = 'someone-else' WHERE id = %s", [record.pk])
    with pytest.raises(CommandError, match=rf"record {record.pk}: hash mismatch"):
        run_verify_audit()


def test_verify_audit_names_the_record_after_a_deleted_one(trail):
    deleted, following = trail[4], trail[5]
    with attacker() as cursor:
        cursor.execute("DELETE FROM reviews_auditrecord WHERE id = %s", [deleted.pk])
    with pytest.raises(CommandError, match=rf"record {following.pk}: prev_hash does not match the hash of record {trail[3].pk}"):
        run_verify_audit()


def test_verify_audit_notices_that_the_newest_record_was_deleted(trail):
    with attacker() as cursor:
        cursor.execute("DELETE FROM reviews_auditrecord WHERE id = %s", [trail[-1].pk])
    verdict = audit_verify()
    assert not verdict.ok and verdict.bad_record_id == trail[-1].pk and "missing" in verdict.reason


def test_a_rejected_action_is_recorded_but_takes_no_step(trail, session):
    rejected = next(r for r in trail if r.action == "step.rejected")
    assert rejected.payload["field"] == "drug_id_2" and session.episode.steps.count() == 2


def test_the_session_audit_page_and_the_supervisors_list(trail, session, phil, sue, pia):
    own = client_for(phil).get(f"/reviews/{session.pk}/audit")
    assert own.status_code == 200 and len(own.context["records"]) == len(trail)
    assert client_for(pia).get(f"/reviews/{session.pk}/audit").status_code == 404
    assert client_for(phil).get("/audit/").status_code == 403
    listing = client_for(sue).get("/audit/", {"action": "step.taken", "actor": "phil"})
    assert [r.action for r in listing.context["page"]] == ["step.taken", "step.taken"]
    by_session = client_for(sue).get("/audit/", {"session": session.pk})
    assert len(by_session.context["page"].object_list) >= len(trail)
