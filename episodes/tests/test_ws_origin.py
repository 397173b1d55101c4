"""``/ws`` and the session cookie: a browser sends the site's cookie with a WebSocket handshake
from any page, so a page on another site must not be able to drive a logged-in user's
episodes. Against a real server, with a real login."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from episodes.tests.conftest import ws_request, ws_url
from testsupport.live_server import LiveServer

pytestmark = pytest.mark.live

PASSWORD = "a-long-pharmacist-password"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer() as live:
        live.manage("create_user", "alice", "--role", "pharmacist", "--password", PASSWORD)
        yield live


@pytest.fixture(scope="module")
def session_cookie(server: LiveServer) -> str:
    """alice's session cookie, from the login form as a browser submits it."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(server.url + "/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token}).encode()
    opener.open(urllib.request.Request(server.url + "/accounts/login/", data=form,
                                       headers={"Referer": server.url + "/accounts/login/"}))
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "sessionid" in cookies, cookies
    return f"sessionid={cookies['sessionid']}"


async def reset_over(url: str, headers: dict[str, str]) -> dict:
    async with websockets.connect(url, additional_headers=headers) as ws:
        return await ws_request(ws, {"type": "reset", "data": {"task_id": "easy_screening"}})


def test_a_cross_origin_websocket_with_the_session_cookie_is_refused(server: LiveServer, session_cookie: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(reset_over(ws_url(server), {"Cookie": session_cookie, "Origin": "https://evil.example"}))

    assert refused.value.response.status_code == 403


def test_the_same_origin_with_the_session_cookie_works_as_alice(server: LiveServer, session_cookie: str) -> None:
    reply = asyncio.run(reset_over(ws_url(server), {"Cookie": session_cookie, "Origin": server.url}))

    assert reply["type"] == "observation"
    status, state = http_state(server, reply["data"]["observation"]["episode_id"], session_cookie)
    assert status == 200 and state["episode_id"] == reply["data"]["observation"]["episode_id"]


def test_a_token_works_from_any_origin(server: LiveServer) -> None:
    token = server.manage("create_api_token", "alice").strip()

    reply = asyncio.run(reset_over(ws_url(server, f"token={token}"), {"Origin": "https://evil.example"}))

    assert reply["type"] == "observation"


def test_an_anonymous_connection_from_any_origin_is_not_alice(server: LiveServer) -> None:
    reply = asyncio.run(reset_over(ws_url(server), {"Origin": "https://evil.example"}))

    assert reply["type"] == "observation"
    # The episode is anonymous: alice's session cannot see it as hers, and nothing of hers leaks.
    assert http_state(server, reply["data"]["observation"]["episode_id"], "")[0] == 200


def http_state(server: LiveServer, episode_id: str, cookie: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"{server.url}/state?episode_id={episode_id}",
                                     headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())
