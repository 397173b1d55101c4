"""OpenEnv's MCP sessions on /ws (in process): ``/ws?session_id=`` attaches a connection to a session
created over POST /mcp; its reset becomes the episode the session's tool calls act on, from a later
connection too; an unknown or closed session is refused at once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from episodes.models import Step, ToolSession
from episodes.tests.conftest import post, run_async, ws_send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("classic_catalog")]
RESET = {"type": "reset", "data": {"catalog": "classic", "task_id": "easy_screening", "seed": 0}}


def mcp(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return post(Client(), "/mcp", {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).json()


def attached(session_id: str, *frames: dict[str, Any]) -> tuple[bool, list[dict[str, Any]], Any]:
    """(accepted, the replies to ``frames``, how it ended) on a connection attached to the session."""
    from polypharmacy_site.asgi import application

    async def scenario() -> tuple[bool, list[dict[str, Any]], Any]:
        communicator = WebsocketCommunicator(application, f"/ws?session_id={session_id}")
        connected, _ = await communicator.connect()
        replies = [await ws_send(communicator, frame) for frame in frames]
        ending = None
        if not frames:
            ending = [await communicator.receive_output(timeout=5) for _ in range(2)]
        await communicator.disconnect()
        return connected, replies, ending

    return run_async(scenario)


def test_a_reset_on_an_attached_websocket_is_the_episode_the_sessions_tools_act_on() -> None:
    session_id = mcp("openenv/session/create")["result"]["session_id"]

    _, (reset,), _ = attached(session_id, RESET)
    answer = mcp("tools/call", {"name": "finish_review", "arguments": {}, "session_id": session_id})["result"]
    # A later connection to the same session reads (and could step) the same episode.
    _, (state,), _ = attached(session_id, {"type": "state"})

    episode_id = reset["data"]["observation"]["episode_id"]
    assert answer["isError"] is False and answer["structuredContent"]["observation"]["episode_id"] == episode_id
    assert answer["structuredContent"]["done"] is True
    assert state["data"]["episode_id"] == episode_id and state["data"]["step_count"] == 1
    assert ToolSession.objects.get().episode.episode_id == episode_id


def test_mcp_frames_on_an_attached_connection_act_on_its_episode() -> None:
    session_id = mcp("openenv/session/create")["result"]["session_id"]
    call = {"type": "mcp", "data": {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                    "params": {"name": "finish_review", "arguments": {}}}}

    _, (reset, answer), _ = attached(session_id, RESET, call)

    result = answer["data"]["result"]
    assert result["structuredContent"]["observation"]["episode_id"] == reset["data"]["observation"]["episode_id"]
    assert list(Step.objects.values_list("index", flat=True)) == [1]


@pytest.mark.parametrize("closed", [False, True], ids=["unknown", "closed"])
def test_an_unknown_or_closed_session_is_refused_at_the_handshake_with_a_session_error(closed: bool) -> None:
    session_id = "no-such-session"
    if closed:
        session_id = mcp("openenv/session/create")["result"]["session_id"]
        mcp("openenv/session/close", {"session_id": session_id})

    connected, _, (frame, close) = attached(session_id)

    error = json.loads(frame["text"])
    assert connected and error["type"] == "error" and error["data"]["code"] == "SESSION_ERROR"
    assert f"Unknown session_id: {session_id}" in error["data"]["message"]
    assert close == {"type": "websocket.close", "code": 4404}
