"""Limits of a real server: WebSocket capacity and idle timeout, and episodes that outlive their
connection and a crash of the server process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import websockets

from episodes.consumers import CLOSE_AT_CAPACITY, CLOSE_IDLE
from episodes.tests.conftest import FINISH, FOREIGN_QUERY, http_json, stored_step_indices, ws_request, ws_url
from testsupport.live_server import LiveServer

pytestmark = pytest.mark.live

RESET = {"type": "reset", "data": {"task_id": "easy_screening", "seed": 0}}


@pytest.fixture(scope="module")
def limited_server() -> Iterator[LiveServer]:
    """At most two WebSocket sessions, closed after one idle second."""
    with LiveServer(extra_env={"POLYPHARMACY_WS_MAX_SESSIONS": "2", "POLYPHARMACY_WS_IDLE_TIMEOUT": "1"}) as live:
        yield live


def test_a_connection_over_capacity_gets_one_error_frame_then_is_closed(limited_server: LiveServer) -> None:
    async def scenario() -> tuple[dict, int | None, dict]:
        async with websockets.connect(ws_url(limited_server)) as first, websockets.connect(ws_url(limited_server)):
            async with websockets.connect(ws_url(limited_server)) as third:
                refusal = json.loads(await asyncio.wait_for(third.recv(), 10))
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(third.recv(), 10)
                close_code = third.close_code
            # The two sessions inside capacity still work.
            still = await ws_request(first, RESET)
        return refusal, close_code, still

    refusal, close_code, still = asyncio.run(scenario())

    assert refusal["type"] == "error" and refusal["data"]["code"] == "CAPACITY_REACHED"
    assert "2 sessions" in refusal["data"]["message"]
    assert close_code == CLOSE_AT_CAPACITY
    assert still["type"] == "observation"


def test_a_freed_slot_takes_a_new_connection(limited_server: LiveServer) -> None:
    async def scenario() -> list[dict]:
        replies = []
        for _ in range(3):  # one after another: each closes before the next
            async with websockets.connect(ws_url(limited_server)) as ws:
                replies.append(await ws_request(ws, {"type": "state"}))
        return replies

    assert [reply["type"] for reply in asyncio.run(scenario())] == ["state"] * 3


def test_an_idle_session_is_closed_and_its_episode_resumed_by_a_new_one(limited_server: LiveServer) -> None:
    async def scenario() -> tuple[str, int | None, dict, dict, dict]:
        async with websockets.connect(ws_url(limited_server)) as ws:
            reset = await ws_request(ws, RESET)
            await ws_request(ws, {"type": "step", "data": FOREIGN_QUERY})
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)  # nothing sent: the server closes it
            idle_close_code = ws.close_code
        episode_id = reset["data"]["observation"]["episode_id"]
        async with websockets.connect(ws_url(limited_server)) as ws:
            resumed = await ws_request(ws, {"type": "reset", "data": {"episode_id": episode_id}})
            stepped = await ws_request(ws, {"type": "step", "data": FINISH})
            state = await ws_request(ws, {"type": "state"})
        return episode_id, idle_close_code, resumed, stepped, state

    episode_id, idle_close_code, resumed, stepped, state = asyncio.run(scenario())

    assert idle_close_code == CLOSE_IDLE
    assert resumed["data"]["observation"]["episode_id"] == episode_id
    assert resumed["data"]["observation"]["step_index"] == 1
    assert stepped["data"]["observation"]["step_index"] == 2 and stepped["data"]["done"] is True
    assert (state["data"]["episode_id"], state["data"]["step_count"]) == (episode_id, 2)


def test_an_http_episode_continues_after_the_server_is_killed_and_restarted(limited_server: LiveServer) -> None:
    status, body = http_json(limited_server, "POST", "/reset", {"task_id": "complex_tradeoff", "seed": 2})
    assert status == 200
    episode_id = body["observation"]["episode_id"]
    for index in (1, 2, 3):
        status, body = http_json(limited_server, "POST", "/step", {"action": FOREIGN_QUERY, "episode_id": episode_id})
        assert (status, body["observation"]["step_index"]) == (200, index)

    limited_server.kill()
    limited_server.start()

    status, body = http_json(limited_server, "POST", "/step", {"action": FINISH, "episode_id": episode_id})
    assert (status, body["observation"]["step_index"], body["done"]) == (200, 4, True)
    status, state = http_json(limited_server, "GET", f"/state?episode_id={episode_id}")
    assert (state["episode_id"], state["step_count"]) == (episode_id, 4)


def test_a_websocket_episode_is_resumed_after_the_server_is_killed_and_restarted(limited_server: LiveServer) -> None:
    async def before_crash() -> str:
        async with websockets.connect(ws_url(limited_server)) as ws:
            reset = await ws_request(ws, {"type": "reset", "data": {"task_id": "complex_tradeoff", "seed": 4}})
            for index in (1, 2):
                stepped = await ws_request(ws, {"type": "step", "data": FOREIGN_QUERY})
                assert stepped["data"]["observation"]["step_index"] == index  # acknowledged
            return reset["data"]["observation"]["episode_id"]

    async def after_restart(episode_id: str) -> tuple[dict, dict]:
        async with websockets.connect(ws_url(limited_server)) as ws:
            resumed = await ws_request(ws, {"type": "reset", "data": {"episode_id": episode_id}})
            stepped = await ws_request(ws, {"type": "step", "data": FINISH})
            return resumed, stepped

    episode_id = asyncio.run(before_crash())
    limited_server.kill()
    limited_server.start()
    resumed, stepped = asyncio.run(after_restart(episode_id))

    assert resumed["data"]["observation"]["step_index"] == 2
    assert (stepped["data"]["observation"]["step_index"], stepped["data"]["done"]) == (3, True)
    assert stored_step_indices(limited_server, episode_id) == [1, 2, 3]
