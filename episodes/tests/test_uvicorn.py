"""The same application under uvicorn (ASGI_SERVER=uvicorn bin/run): HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import json

import websockets

from episodes.tests.conftest import FINISH, http_json, stored_step_indices
from polypharmacy_site.live_server import LiveServer


def test_uvicorn_serves_http_and_websocket_episodes():
    with LiveServer(server="uvicorn") as server:
        status, body = http_json(server, "POST", "/reset", {"seed": 2, "catalog": "classic"})
        assert status == 200 and set(body) == {"observation", "reward", "done"}
        episode_id = body["observation"]["episode_id"]
        assert http_json(server, "POST", "/step", {"action": FINISH, "episode_id": episode_id})[1]["done"] is True

        async def over_ws() -> dict:
            async with websockets.connect(server.url.replace("http://", "ws://") + "/ws") as ws:
                await ws.send(json.dumps({"type": "reset", "data": {"seed": 2, "catalog": "classic"}}))
                reset = json.loads(await ws.recv())
                await ws.send(json.dumps({"type": "step", "data": FINISH}))
                return reset, json.loads(await ws.recv())

        reset, finished = asyncio.run(over_ws())
        assert reset["type"] == "observation" and finished["data"]["done"] is True
        assert stored_step_indices(server, episode_id) == [1]
        assert stored_step_indices(server, reset["data"]["observation"]["episode_id"]) == [1]
