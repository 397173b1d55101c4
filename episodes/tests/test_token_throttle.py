"""Invalid API tokens from one address: 401s up to the limit, then 429 JSON for every token request
from that address (a valid token too) until the lock ends, over HTTP and at the WebSocket
handshake; other addresses, sessions and anonymous callers are not affected."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from episodes.tests.conftest import run_async
from episodes.tokens import token_lock_remaining, token_throttle_reset

pytestmark = pytest.mark.django_db

LIMIT = 20  # the default TOKEN_FAILURE_LIMIT
ATTACKER = "10.66.0.1"


@pytest.fixture(autouse=True)
def unlocked_attacker() -> Any:
    token_throttle_reset(ATTACKER)
    yield
    token_throttle_reset(ATTACKER)


def get_state(token: str, ip: str = ATTACKER, **extra: Any):
    return Client().get("/state", HTTP_AUTHORIZATION=f"Token {token}", REMOTE_ADDR=ip, **extra)


def test_invalid_tokens_get_401_until_the_limit_then_429_saying_why(db: None) -> None:
    codes = [get_state(f"{i:040d}").status_code for i in range(LIMIT - 1)]
    locking = get_state("f" * 40)
    after = get_state("e" * 40)

    assert codes == [401] * (LIMIT - 1)
    assert locking.status_code == after.status_code == 429
    detail = after.json()["detail"]
    assert detail.startswith("Too many invalid API tokens from this address (20 within 15 minutes)")
    assert "locked for this address for 15 more minutes" in detail
    assert 890 <= int(after["Retry-After"]) <= 900


@pytest.mark.usefixtures("catalogs")
def test_a_locked_address_is_refused_a_valid_token_too_and_other_addresses_are_not(alice_token: str) -> None:
    for i in range(LIMIT):
        get_state(f"{i:040d}")

    assert get_state(alice_token).status_code == 429  # else the answer would tell which key is right
    assert get_state(alice_token, ip="10.66.0.2").status_code != 429
    assert Client().post("/reset", {}, content_type="application/json", REMOTE_ADDR=ATTACKER).status_code == 200


def test_the_lock_ends_after_the_lockout_time(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(LIMIT):
        get_state(f"{i:040d}")
    assert token_lock_remaining(ATTACKER) > 0
    later = time.time() + 15 * 60 + 1
    monkeypatch.setattr("episodes.tokens.time.time", lambda: later)

    assert token_lock_remaining(ATTACKER) == 0


@pytest.mark.parametrize("header", [
    "Token", "Token a b", "Token " + "x" * 5000, "Token abc\x00def", "token " + "0" * 40, "Token \u00e9t\u00e9",
])
def test_malformed_token_headers_are_401s_and_count(db: None, header: str) -> None:
    response = Client().get("/state", HTTP_AUTHORIZATION=header, REMOTE_ADDR=ATTACKER)

    assert response.status_code == 401 and "detail" in response.json()
    assert [get_state(f"{i:040d}").status_code for i in range(LIMIT - 1)][-1] == 429


def test_other_authorization_schemes_are_not_counted(db: None) -> None:
    for _ in range(LIMIT + 5):
        Client().get("/state", HTTP_AUTHORIZATION="Basic Zm9vOmJhcg==", REMOTE_ADDR=ATTACKER)

    assert token_lock_remaining(ATTACKER) == 0


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="in-process on PostgreSQL the handshakes' database work shares the test's open transaction across "
           "Channels' threads; the same lock is checked against a real server there "
           "(episodes/tests/test_token_throttle_live.py)",
)
def test_websocket_tokens_count_too_and_a_locked_address_cannot_open_one(alice_token: str) -> None:
    # Not a transactional test: the handshake's token look-up runs in this thread (Channels'
    # thread-sensitive database_sync_to_async).
    from polypharmacy_site.asgi import application

    for i in range(LIMIT - 2):
        get_state(f"{i:040d}")

    async def handshake(token: str) -> bool:
        communicator = WebsocketCommunicator(application, f"/ws?token={token}")
        communicator.scope["client"] = (ATTACKER, 40000)
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    assert run_async(lambda: handshake("9" * 40)) is True  # a wrong token is ignored: anonymous
    assert token_lock_remaining(ATTACKER) == 0
    assert run_async(lambda: handshake("8" * 40)) is False  # the failure that reaches the limit
    assert token_lock_remaining(ATTACKER) > 0
    assert run_async(lambda: handshake(alice_token)) is False
    assert get_state(alice_token).status_code == 429
