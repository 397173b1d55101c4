"""WS /ws in process (Channels' WebsocketCommunicator): one session per connection, OpenEnv's
frames, steps recorded like HTTP ones, and episodes that outlive their connection."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from episodes.models import Episode, Step
from episodes.tests.conftest import FINISH, FOREIGN_QUERY, run_async, step, ws_send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("classic_catalog")]
RESET = {"type": "reset", "data": {"catalog": "classic", "task_id": "easy_screening", "seed": 0}}


async def connect() -> WebsocketCommunicator:
    from polypharmacy_site.asgi import application

    communicator = WebsocketCommunicator(application, "/ws")
    connected, _ = await communicator.connect()
    assert connected
    return communicator


def session(*frames: dict[str, Any]) -> list[dict[str, Any]]:
    """The replies to ``frames`` sent in order over one new connection."""

    async def scenario() -> list[dict[str, Any]]:
        communicator = await connect()
        replies = [await ws_send(communicator, frame) for frame in frames]
        await communicator.disconnect()
        return replies

    return run_async(scenario)


def test_a_session_resets_steps_and_reads_its_state() -> None:
    reset, stepped, state = session(RESET, {"type": "step", "data": FOREIGN_QUERY}, {"type": "state"})

    assert reset["type"] == "observation" and set(reset["data"]) == {"observation", "reward", "done"}
    assert reset["data"]["reward"] is None
    assert stepped["data"]["observation"]["step_index"] == 1
    assert stepped["data"]["reward"] == pytest.approx(0.001)
    assert "not in the current regimen" in stepped["data"]["observation"]["last_action_error"]
    assert state == {"type": "state", "data": {**state["data"], "episode_id": reset["data"]["observation"]["episode_id"],
                                               "step_count": 1}}


def test_state_before_any_reset_is_the_empty_state() -> None:
    (state,) = session({"type": "state"})

    assert state == {"type": "state", "data": {"episode_id": None, "step_count": 0}}


def test_a_websocket_step_is_recorded_like_an_http_one() -> None:
    session(RESET, {"type": "step", "data": FOREIGN_QUERY}, {"type": "step", "data": FINISH})

    episode = Episode.objects.get()
    assert (episode.status, episode.step_count) == ("terminated", 2)
    assert list(Step.objects.values_list("index", "actor_label", "done")) == [(1, "anonymous", False), (2, "anonymous", True)]


def test_a_new_connection_resumes_an_open_episode_by_its_id() -> None:
    reset, _ = session(RESET, {"type": "step", "data": FOREIGN_QUERY})
    episode_id = reset["data"]["observation"]["episode_id"]

    resumed, stepped = session({"type": "reset", "data": {"episode_id": episode_id}}, {"type": "step", "data": FINISH})

    assert resumed["data"]["observation"]["episode_id"] == episode_id
    assert resumed["data"]["observation"]["step_index"] == 1
    assert stepped["data"]["observation"]["step_index"] == 2
    assert Episode.objects.count() == 1


def test_a_step_taken_over_http_meanwhile_is_not_overwritten() -> None:
    async def scenario() -> list[dict[str, Any]]:
        communicator = await connect()
        reset = await ws_send(communicator, RESET)
        episode_id = reset["data"]["observation"]["episode_id"]
        from asgiref.sync import sync_to_async

        http = await sync_to_async(lambda: step(Client(), FOREIGN_QUERY, episode_id=episode_id))()
        assert http.status_code == 200
        replies = [await ws_send(communicator, {"type": "step", "data": FOREIGN_QUERY}),
                   await ws_send(communicator, {"type": "state"})]
        await communicator.disconnect()
        return replies

    stepped, state = run_async(scenario)

    assert stepped["data"]["observation"]["step_index"] == 2
    assert state["data"]["step_count"] == 2
    assert list(Step.objects.order_by("index").values_list("index", flat=True)) == [1, 2]


def test_a_close_frame_closes_the_connection_without_a_reply() -> None:
    async def scenario() -> dict[str, Any]:
        communicator = await connect()
        await communicator.send_json_to({"type": "close"})
        return await communicator.receive_output(timeout=5)

    assert run_async(scenario)["type"] == "websocket.close"


def test_mcp_frames_are_answered_in_kind() -> None:
    (answer,) = session({"type": "mcp", "data": {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}})

    assert answer["type"] == "mcp"
    assert answer["data"]["id"] == 3
    assert len(answer["data"]["result"]["tools"]) == 3
