"""One path for a review session's actions: its pages. The pharmacist's own token over REST,
WebSocket or MCP may read the review's episode but not step it (409, the same refusal on every
channel, whatever the action), so nothing reaches the episode that the review pages did not
check and audit."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.authtoken.models import Token

from episodes.tests.conftest import post, run_async, ws_send
from reviews.models import AuditRecord
from reviews.tests.conftest import PATIENT, SEVERE_PAIR, intervene, meta, query, shown
from testsupport.world import client_for

# Transactional: the WebSocket consumer reads from another thread.
pytestmark = pytest.mark.django_db(transaction=True)

ACTIONS = {
    "a query the page takes": query(*SEVERE_PAIR),
    "a drug outside the regimen, which the page refuses": intervene("DRUG_WARFARIN", "stop"),
    "finishing the review": {"action_type": "finish_review"},
}


@pytest.fixture
def token(phil) -> str:
    return Token.objects.create(user=phil).key


def records_and_steps(session) -> tuple[int, int]:
    session.episode.refresh_from_db()
    return AuditRecord.objects.filter(session=session).count(), session.episode.steps.count()


def assert_refused(message: str, session) -> None:
    assert "is a review session: act on it on its review page" in message


@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
def test_rest_with_the_pharmacists_token_is_refused_with_409(session, token, action) -> None:
    before = records_and_steps(session)
    answer = post(Client(), "/step", {"action": action, "episode_id": session.episode.episode_id},
                  Authorization=f"Token {token}")
    assert answer.status_code == 409
    body = answer.json()
    assert_refused(body["detail"], session)
    assert "api may read it" in body["detail"]
    assert records_and_steps(session) == before


def test_rest_with_the_pharmacists_logged_in_session_is_refused_too(session, phil) -> None:
    before = records_and_steps(session)
    answer = post(client_for(phil), "/step", {"action": query(*SEVERE_PAIR), "episode_id": session.episode.episode_id})
    assert answer.status_code == 409 and records_and_steps(session) == before


def test_the_episode_can_still_be_read_over_rest(session, token) -> None:
    state = Client().get("/state", {"episode_id": session.episode.episode_id}, headers={"Authorization": f"Token {token}"})
    assert state.status_code == 200 and state.json()["episode_id"] == session.episode.episode_id


@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
def test_mcp_with_the_pharmacists_token_is_refused(session, token, action) -> None:
    before = records_and_steps(session)
    tool = action["action_type"]
    arguments = {k: v for k, v in action.items() if k != "action_type"}
    answer = post(Client(), "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                     "params": {"name": tool, "arguments": arguments}},
                  Authorization=f"Token {token}")
    result = answer.json()["result"]
    assert result["isError"] is True
    assert_refused(result["content"][0]["text"], session)
    assert records_and_steps(session) == before


@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
def test_a_websocket_with_the_pharmacists_token_is_refused(session, token, action) -> None:
    from polypharmacy_site.asgi import application

    before = records_and_steps(session)
    episode_id = session.episode.episode_id

    async def scenario() -> tuple[dict, dict]:
        communicator = WebsocketCommunicator(application, f"/ws?token={token}")
        connected, _ = await communicator.connect()
        assert connected
        resumed = await ws_send(communicator, {"type": "reset", "data": {"episode_id": episode_id}})
        refused = await ws_send(communicator, {"type": "step", "data": action})
        await communicator.disconnect()
        return resumed, refused

    resumed, refused = run_async(scenario)
    assert resumed["type"] == "observation"
    assert refused["type"] == "error"
    assert_refused(refused["data"]["message"], session)
    assert records_and_steps(session) == before


def test_the_review_page_still_takes_and_audits_the_step(session, phil) -> None:
    answer = client_for(phil).post(f"/reviews/{session.pk}/query",
                                   shown(session, {"drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1]}))
    assert answer.status_code == 302
    taken = AuditRecord.objects.filter(session=session, action="step.taken").get()
    assert taken.payload["index"] == 1 and session.episode.steps.get().actor_label == "review:phil"


def test_a_new_review_and_its_episode_are_marked_for_the_pages_only(classic, phil) -> None:
    from reviews import services

    started = services.review_start(meta=meta(phil), patient_id=PATIENT, task_id="easy_screening", catalog_name="classic")
    assert started.episode.steps_via == "review"
