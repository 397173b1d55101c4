"""Double submits against a real server: many identical posts at once (threads with their own
connections, real HTTP, the CSRF token and session cookie of one logged-in browser) take effect
once. The first answer is the usual redirect (302); the repeats get 303 See Other to the same
review, which shows the outcome and a notice. And a supervisor's live watch over a real
WebSocket is audited once; the pharmacist's own is not."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

import pytest
import websockets

from testsupport.live_server import LiveServer
from reviews.tests.web import WebUser, at_once, review_pk, server_rows
from testsupport.world import PASSWORD

pytestmark = pytest.mark.live

PARALLEL = 20
SUBSTITUTION = {"target_drug_id": "DRUG_AMITRIPTYLINE", "intervention_type": "substitute",
                "proposed_new_drug_id": "DRUG_NORTRIPTYLINE"}  # valid for EP_0002


@pytest.fixture(scope="module")
def server():
    with LiveServer() as server:
        for username, role in (("phil", "pharmacist"), ("sue", "supervisor")):
            server.manage("create_user", username, "--role", role, "--password", PASSWORD)
        yield server


@pytest.fixture(scope="module")
def phil(server) -> WebUser:
    return WebUser(server, user_agent="phil-browser/1.0").log_in("phil", PASSWORD)


@pytest.fixture(scope="module")
def sue(server) -> WebUser:
    return WebUser(server, user_agent="sue-browser/1.0").log_in("sue", PASSWORD)


def start(user: WebUser, patient_id: str) -> int:
    answer = user.post("/reviews/start", {"catalog": "classic", "patient_id": patient_id, "task_id": "easy_screening"})
    assert answer.status == 302, answer.text[:500]
    return review_pk(answer.location)


def payload(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


def audit(server: LiveServer, pk: int, action: str) -> list[dict[str, Any]]:
    rows = server_rows(server, "SELECT payload, ip, user_agent, actor_label FROM reviews_auditrecord "
                              "WHERE session_id = %s AND action = %s ORDER BY id", (pk, action))
    return [{"payload": payload(p), "ip": ip, "user_agent": agent, "actor": actor} for p, ip, agent, actor in rows]


def steps(server: LiveServer, pk: int) -> list[tuple[int, Any]]:
    return server_rows(server, 'SELECT s."index", s.action FROM episodes_step s JOIN reviews_reviewsession r '
                               'ON r.episode_id = s.episode_id WHERE r.id = %s ORDER BY s."index"', (pk,))


def assert_once(answers: list[Any], pk: int) -> None:
    """One answer is the redirect of the submission that acted (a step's scrolls to its result,
    ``#last-result``), the rest are 303s to the same review."""
    assert Counter(a.status for a in answers) == {302: 1, 303: len(answers) - 1}, [(a.status, a.text[:200]) for a in answers]
    assert {a.location.split("#")[0].split("?")[0] for a in answers} == {f"/reviews/{pk}/"}


def assert_chain_verifies(server: LiveServer) -> None:
    assert re.match(r"\d+ records verified\nthe chain extends all \d+ checkpoints", server.manage("verify_audit"))


def test_twenty_accepts_of_one_suggestion_take_one_step(server, phil):
    pk = start(phil, "EP_0003")
    # A double submit of "suggest" records one suggestion: every answer names the same one.
    asked = at_once(5, lambda _: phil.post(f"/reviews/{pk}/suggest", {"at_step": 0, "suggester": "rule-based"},
                                            Accept="application/json"))
    assert {a.status for a in asked} == {200} and len({json.loads(a.text)["id"] for a in asked}) == 1
    suggestion_id = json.loads(asked[0].text)["id"]
    assert len(audit(server, pk, "suggestion.shown")) == 1

    answers = at_once(PARALLEL, lambda _: phil.post(f"/reviews/{pk}/suggestion",
                                                     {"suggestion_id": suggestion_id, "decision": "accept"}))

    assert_once(answers, pk)
    assert len(steps(server, pk)) == 1 and len(audit(server, pk, "step.taken")) == 1
    (accepted,) = audit(server, pk, "suggestion.accepted")
    assert accepted["payload"]["suggestion_id"] == suggestion_id
    assert "This suggestion was already accepted" in phil.get(f"/reviews/{pk}/").text  # the notice
    assert_chain_verifies(server)


def test_accepts_and_ignores_at_once_answer_a_suggestion_once(server, phil):
    pk = start(phil, "EP_0004")
    suggestion_id = json.loads(phil.post(f"/reviews/{pk}/suggest", {"at_step": 0}, Accept="application/json").text)["id"]

    answers = at_once(PARALLEL, lambda i: phil.post(f"/reviews/{pk}/suggestion", {
        "suggestion_id": suggestion_id, "decision": "accept" if i % 2 else "ignore"}))

    assert_once(answers, pk)
    accepted, ignored = audit(server, pk, "suggestion.accepted"), audit(server, pk, "suggestion.ignored")
    assert len(accepted) + len(ignored) == 1
    assert len(steps(server, pk)) == len(accepted)
    assert_chain_verifies(server)


def test_a_double_submitted_intervention_takes_one_step(server, phil):
    pk = start(phil, "EP_0002")

    answers = at_once(PARALLEL, lambda _: phil.post(f"/reviews/{pk}/intervene", {**SUBSTITUTION, "at_step": 0}))

    assert_once(answers, pk)
    ((index, action),) = steps(server, pk)
    assert index == 1 and payload(action)["proposed_new_drug_id"] == "DRUG_NORTRIPTYLINE"
    assert len(audit(server, pk, "step.taken")) == 1 and audit(server, pk, "step.rejected") == []
    page = phil.get(f"/reviews/{pk}/").text
    assert "This form was shown at step 0 and the review is now at step 1" in page
    assert_chain_verifies(server)


def test_a_double_start_opens_one_session(server, phil):
    answers = at_once(PARALLEL, lambda _: phil.post(
        "/reviews/start", {"catalog": "classic", "patient_id": "EP_0005", "task_id": "easy_screening"}))

    pks = {review_pk(a.location) for a in answers}
    assert len(pks) == 1
    (pk,) = pks
    assert_once(answers, pk)
    sessions = server_rows(server, "SELECT r.id FROM reviews_reviewsession r JOIN episodes_episode e ON e.id = r.episode_id "
                                   "WHERE e.patient_id = %s", ("EP_0005",))
    assert sessions == [(pk,)] and len(audit(server, pk, "session.started")) == 1
    assert "You started this review of EP_0005" in phil.get(f"/reviews/{pk}/").text
    assert_chain_verifies(server)


def test_a_double_finish_and_a_double_sign_off_act_once(server, phil, sue):
    pk = start(phil, "EP_0006")

    finished = at_once(PARALLEL // 2, lambda _: phil.post(f"/reviews/{pk}/finish", {"at_step": 0, "confirmed": "1"}))
    signed = at_once(PARALLEL // 2, lambda _: sue.post(f"/reviews/{pk}/sign-off", {"decision": "approve", "comment": "ok"}))

    assert_once(finished, pk)
    assert_once(signed, pk)
    assert len(steps(server, pk)) == 1 and len(audit(server, pk, "session.finished")) == 1
    assert len(audit(server, pk, "session.approved")) == 1
    assert "You already approved this review." in sue.get(f"/reviews/{pk}/").text
    assert_chain_verifies(server)


def test_a_supervisors_live_watch_is_audited_once_and_the_pharmacists_not_at_all(server, phil, sue):
    pk = start(phil, "EP_0007")
    viewed_before = len(audit(server, pk, "session.viewed"))

    async def watch(user: WebUser, *, then_step: bool) -> dict[str, Any] | None:
        headers = {"Cookie": f"sessionid={user.cookie('sessionid')}", "Origin": server.url, "User-Agent": user.user_agent}
        url = server.url.replace("http://", "ws://") + f"/ws/reviews/{pk}/"
        async with websockets.connect(url, additional_headers=headers) as ws:
            if not then_step:
                return None
            # A real round trip: the pharmacist's step reaches the supervisor's socket.
            finished = await asyncio.to_thread(phil.post, f"/reviews/{pk}/finish", {"at_step": 0, "confirmed": "1"})
            assert finished.status == 302, finished.text[:500]
            return json.loads(await asyncio.wait_for(ws.recv(), timeout=30))

    message = asyncio.run(watch(sue, then_step=True))
    asyncio.run(watch(phil, then_step=False))

    assert message["type"] == "step" and message["index"] == 1
    watches = [r for r in audit(server, pk, "session.viewed") if r["payload"] == {"page": "watch"}]
    assert len(audit(server, pk, "session.viewed")) == viewed_before + 1
    assert [(w["actor"], w["ip"], w["user_agent"]) for w in watches] == [("sue", "127.0.0.1", "sue-browser/1.0")]
    assert_chain_verifies(server)


def test_the_audit_trail_records_the_connections_address_not_what_the_client_claims(server, phil, sue):
    """uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: the server is told
    to believe no proxy unless FORWARDED_ALLOW_IPS names one (polypharmacy_site/serve.py)."""
    pk = start(phil, "EP_0008")
    assert sue.get(f"/reviews/{pk}/", **{"X-Forwarded-For": "203.0.113.9"}).status == 200
    (viewed,) = audit(server, pk, "session.viewed")
    assert viewed["ip"] == "127.0.0.1"
