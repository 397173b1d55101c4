"""The WebSocket side of the token throttle against a real server on the suite's database
(PostgreSQL in CI): invalid tokens at the handshake count towards the address's lock, and once it
is locked a valid token's handshake is refused and its HTTP requests get 429."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from episodes.tests.conftest import ws_request, ws_url
from testsupport.live_server import LiveServer

pytestmark = pytest.mark.live

LIMIT = 20  # the default TOKEN_FAILURE_LIMIT; every request here comes from 127.0.0.1


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer() as live:
        live.manage("create_user", "alice", "--role", "researcher", "--password", "a-long-researcher-password")
        yield live


async def handshake(url: str) -> bool:
    """Whether the handshake is accepted (and the socket then answers a reset)."""
    try:
        async with websockets.connect(url, open_timeout=10) as ws:
            answer = await ws_request(ws, {"type": "reset", "data": {"task_id": "easy_screening"}})
            return answer.get("type") == "observation"
    except InvalidStatus:
        return False


def state_status(server: LiveServer, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(server.url + "/state", headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_handshakes_with_invalid_tokens_lock_the_address_and_then_a_valid_token_too(server: LiveServer) -> None:
    token = server.manage("create_api_token", "alice").strip()
    assert asyncio.run(handshake(ws_url(server, f"token={token}"))) is True
    accepted = [asyncio.run(handshake(ws_url(server, f"token={i:040d}"))) for i in range(LIMIT - 1)]
    assert accepted == [True] * (LIMIT - 1)  # a wrong token is ignored at the handshake: anonymous
    assert asyncio.run(handshake(ws_url(server, f"token={'f' * 40}"))) is False  # the failure at the limit
    assert asyncio.run(handshake(ws_url(server, f"token={token}"))) is False
    status, body = state_status(server, token)
    assert status == 429 and "detail" in body, body
    # The server is not stuck: anonymous sockets still work.
    assert asyncio.run(handshake(ws_url(server))) is True
