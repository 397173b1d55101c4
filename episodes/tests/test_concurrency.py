"""Many clients at once against a real server: WebSocket sessions side by side, concurrent HTTP
steps on one episode that serialize with no index lost or repeated, and a crash mid-burst that
loses no acknowledged step."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import websockets

from episodes.tests.conftest import FINISH, FOREIGN_QUERY, http_json, stored_step_indices, ws_request, ws_url
from testsupport.live_server import LiveServer

pytestmark = pytest.mark.live


def test_sixteen_websocket_sessions_play_their_episodes_side_by_side(env_server: LiveServer) -> None:
    async def play(seed: int) -> tuple[str, list[int], bool]:
        async with websockets.connect(ws_url(env_server)) as ws:
            reset = await ws_request(ws, {"type": "reset", "data": {"task_id": "easy_screening", "seed": seed}})
            indices, done = [], False
            for action in (FOREIGN_QUERY, FOREIGN_QUERY, FOREIGN_QUERY, FINISH):
                reply = await ws_request(ws, {"type": "step", "data": action})
                assert reply["type"] == "observation", reply
                indices.append(reply["data"]["observation"]["step_index"])
                done = reply["data"]["done"]
        return reset["data"]["observation"]["episode_id"], indices, done

    async def all_sessions() -> list[tuple[str, list[int], bool]]:
        return await asyncio.gather(*(play(seed) for seed in range(16)))

    results = asyncio.run(all_sessions())

    assert len({episode_id for episode_id, _, _ in results}) == 16
    assert all(indices == [1, 2, 3, 4] and done for _, indices, done in results)
    for episode_id, _, _ in results:
        assert stored_step_indices(env_server, episode_id) == [1, 2, 3, 4]


def test_concurrent_http_steps_on_one_episode_serialize_without_gaps(env_server: LiveServer) -> None:
    status, body = http_json(env_server, "POST", "/reset", {"task_id": "easy_screening", "seed": 5})  # 10 steps at most
    episode_id = body["observation"]["episode_id"]
    start = threading.Barrier(20)

    def one_step(_: int) -> tuple[int, Any]:
        start.wait()
        return http_json(env_server, "POST", "/step", {"action": FOREIGN_QUERY, "episode_id": episode_id})

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(one_step, range(20)))

    accepted = sorted(body["observation"]["step_index"] for status, body in answers if status == 200)
    refused = [(status, body) for status, body in answers if status != 200]
    assert accepted == list(range(1, 11))
    assert stored_step_indices(env_server, episode_id) == accepted
    assert all(status == 409 and "finished" in body["detail"] for status, body in refused), refused
    assert len(refused) == 10


def test_a_crash_mid_burst_loses_no_acknowledged_step(env_server: LiveServer) -> None:
    status, body = http_json(env_server, "POST", "/reset", {"task_id": "complex_tradeoff", "seed": 1})  # 30 steps
    episode_id = body["observation"]["episode_id"]
    acknowledged: list[int] = []
    lock = threading.Lock()
    enough = threading.Event()

    def keep_stepping() -> None:
        while True:
            try:
                status, body = http_json(env_server, "POST", "/step", {"action": FOREIGN_QUERY, "episode_id": episode_id},
                                         timeout=10)
            except OSError:
                return  # the server is gone
            if status != 200:
                return
            with lock:
                acknowledged.append(body["observation"]["step_index"])
                if len(acknowledged) >= 6:
                    enough.set()

    threads = [threading.Thread(target=keep_stepping) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert enough.wait(30)
    env_server.kill()
    for thread in threads:
        thread.join(30)
    env_server.start()

    stored = stored_step_indices(env_server, episode_id)
    assert stored == list(range(1, len(stored) + 1))
    assert set(acknowledged) <= set(stored) and len(acknowledged) == len(set(acknowledged))
    status, body = http_json(env_server, "POST", "/step", {"action": FINISH, "episode_id": episode_id})
    assert (status, body["observation"]["step_index"]) == (200, len(stored) + 1)
