"""Authentication over the WebSocket: with POLYPHARMACY_API_AUTH=required, /ws needs a token (in
the query or the header). In a module of its own: these tests are transactional (Channels runs the
consumer in other threads), and test_auth.py's module-wide catalogs transaction must not be open
around them (see episodes/tests/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from episodes.consumers import CLOSE_UNAUTHORIZED
from episodes.models import Episode
from episodes.tests.conftest import run_async, ws_send
from polypharmacy_site.asgi import application


# ── the WebSocket ────────────────────────────────────────────────────────────
def ws_session(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> list[Any]:
    """Connect, reset, and report what came back: the frames, then the close code (or None)."""
    async def scenario() -> list[Any]:
        communicator = WebsocketCommunicator(application, path, headers=headers or [])
        connected, _ = await communicator.connect()
        assert connected
        if not await communicator.receive_nothing(timeout=0.2):  # refused at once
            return [await communicator.receive_output(timeout=5), await communicator.receive_output(timeout=5)]
        reply = await ws_send(communicator, {"type": "reset", "data": {"catalog": "classic"}})
        await communicator.disconnect()
        return [reply]

    return run_async(scenario)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("classic_catalog", "auth_required")
def test_the_websocket_refuses_a_connection_without_a_token() -> None:
    error, closed = ws_session("/ws")

    assert json.loads(error["text"])["data"]["code"] == "SESSION_ERROR" and "token" in error["text"]
    assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHORIZED}
    assert Episode.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("classic_catalog", "auth_required")
def test_the_websocket_takes_a_token_in_the_query_or_the_header(alice: User, alice_token: str) -> None:
    (by_query,) = ws_session(f"/ws?token={alice_token}")
    (by_header,) = ws_session("/ws", headers=[(b"authorization", f"Token {alice_token}".encode())])

    assert by_query["type"] == by_header["type"] == "observation"
    assert list(Episode.objects.values_list("owner__username", flat=True)) == ["alice", "alice"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("classic_catalog", "auth_required")
def test_the_websocket_refuses_a_wrong_token(alice_token: str) -> None:
    error, closed = ws_session("/ws?token=" + "0" * 40)

    assert '"SESSION_ERROR"' in error["text"]
    assert closed["code"] == CLOSE_UNAUTHORIZED
