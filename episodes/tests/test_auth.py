"""Authentication: with POLYPHARMACY_API_AUTH=required the env endpoints need a user (a token or
a session), and every episode belongs to its creator, in either mode. The WebSocket's side is
test_auth_ws.py."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token

from episodes.models import Episode, Step, ToolSession
from episodes.tests.conftest import FINISH, FOREIGN_QUERY, database_rows, post, reset, step

pytestmark = pytest.mark.django_db


def token(key: str) -> dict[str, str]:
    return {"Authorization": f"Token {key}"}


# ── required mode over HTTP ──────────────────────────────────────────────────
@pytest.mark.usefixtures("catalogs", "auth_required")
@pytest.mark.parametrize(("method", "path"), [("post", "/reset"), ("post", "/step"), ("get", "/state")])
def test_an_anonymous_caller_gets_401_with_the_way_in(client, method: str, path: str) -> None:
    response = post(client, path, {"action": FINISH}) if method == "post" else client.get(path)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    assert "Authorization: Token <key>" in response.json()["detail"]
    assert Episode.objects.count() == 0


@pytest.mark.usefixtures("catalogs", "auth_required")
def test_the_describing_endpoints_stay_open(client) -> None:
    for path in ("/health", "/schema", "/metadata", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


@pytest.mark.usefixtures("catalogs", "auth_required")
def test_a_wrong_token_is_401(client, alice_token: str) -> None:
    response = post(client, "/reset", {}, **token("0" * 40))

    assert response.status_code == 401
    assert Episode.objects.count() == 0


@pytest.mark.usefixtures("catalogs", "auth_required")
def test_a_token_user_plays_an_episode_without_cookies(client, alice: User, alice_token: str) -> None:
    observation = post(client, "/reset", {"task_id": "easy_screening"}, **token(alice_token)).json()["observation"]
    client.cookies.clear()

    answer = post(client, "/step", {"action": FOREIGN_QUERY}, **token(alice_token))
    state = client.get("/state", headers=token(alice_token)).json()

    assert answer.status_code == 200
    assert state["episode_id"] == observation["episode_id"] and state["step_count"] == 1
    episode = Episode.objects.get()
    assert episode.owner == alice and episode.anon_key == ""
    assert Step.objects.get().actor == alice
    assert Step.objects.get().actor_label == "api:alice"


@pytest.mark.usefixtures("catalogs", "auth_required")
def test_a_logged_in_session_works_too(client, alice: User) -> None:
    client.force_login(alice)

    assert reset(client).status_code == 200
    assert Episode.objects.get().owner == alice


# ── every episode belongs to its creator ─────────────────────────────────────
@pytest.fixture
def alices_episode(client, alice_token: str) -> str:
    response = post(client, "/reset", {"task_id": "easy_screening"}, **token(alice_token))
    assert response.status_code == 200
    return response.json()["observation"]["episode_id"]


@pytest.mark.usefixtures("catalogs", "auth_required")
def test_someone_elses_episode_is_404_on_step_and_state(client, alices_episode: str, bob_token: str) -> None:
    before = database_rows()

    stepped = post(client, "/step", {"action": FINISH, "episode_id": alices_episode}, **token(bob_token))
    state = client.get("/state", {"episode_id": alices_episode}, headers=token(bob_token))

    assert (stepped.status_code, state.status_code) == (404, 404)
    assert stepped.json()["detail"] == state.json()["detail"] == f"No episode {alices_episode!r} for this caller."
    assert database_rows() == before


@pytest.mark.usefixtures("catalogs", "auth_required")
def test_someone_elses_episode_id_cannot_be_reset(client, alices_episode: str, bob_token: str) -> None:
    before = database_rows()

    response = post(client, "/reset", {"episode_id": alices_episode}, **token(bob_token))

    assert response.status_code == 409
    assert response.json() == {"detail": f"episode_id {alices_episode!r} is already in use."}
    assert database_rows() == before


@pytest.mark.usefixtures("catalogs", "auth_required")
def test_another_users_latest_episode_is_not_yours(client, alices_episode: str, bob_token: str) -> None:
    assert client.get("/state", headers=token(bob_token)).json() == {"episode_id": None, "step_count": 0}
    assert post(client, "/step", {"action": FINISH}, **token(bob_token)).status_code == 404


@pytest.mark.usefixtures("catalogs")
def test_a_users_episode_stays_private_in_anonymous_mode(client, alices_episode: str) -> None:
    client.cookies.clear()

    assert step(client, FINISH, episode_id=alices_episode).status_code == 404
    assert client.get("/state", {"episode_id": alices_episode}).status_code == 404
    assert Episode.objects.get().status == "open"


# ── MCP ──────────────────────────────────────────────────────────────────────
@pytest.mark.usefixtures("catalogs", "auth_required")
def test_mcp_needs_a_user_in_required_mode(client, alice_token: str) -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "openenv/session/create", "params": {}}

    refused = post(client, "/mcp", call).json()
    accepted = post(client, "/mcp", call, **token(alice_token)).json()

    assert refused["error"]["code"] == -32001
    assert ToolSession.objects.get(session_id=accepted["result"]["session_id"]).owner.username == "alice"


@pytest.mark.usefixtures("catalogs", "auth_required")
def test_an_mcp_session_is_its_creators_alone(client, alice_token: str, bob_token: str) -> None:
    created = post(client, "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "openenv/session/create"}, **token(alice_token))
    session_id = created.json()["result"]["session_id"]
    close = {"jsonrpc": "2.0", "id": 2, "method": "openenv/session/close", "params": {"session_id": session_id}}

    bobs = post(client, "/mcp", close, **token(bob_token)).json()
    alices = post(client, "/mcp", close, **token(alice_token)).json()

    assert bobs["error"]["code"] == -32602 and "Unknown session_id" in bobs["error"]["message"]
    assert alices["result"]["closed"] is True


# ── tokens: the management command and the admin ─────────────────────────────
def create_api_token(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip()


def test_create_api_token_prints_a_key_that_stays_until_reset(alice: User) -> None:
    key = create_api_token("alice")

    assert Token.objects.get(user=alice).key == key and len(key) == 40
    assert create_api_token("alice") == key
    new_key = create_api_token("alice", "--reset")
    assert new_key != key
    assert list(Token.objects.filter(user=alice).values_list("key", flat=True)) == [new_key]


def test_create_api_token_refuses_an_unknown_user(db: None) -> None:
    with pytest.raises(CommandError, match="No user 'mallory'"):
        create_api_token("mallory")


def test_tokens_are_managed_in_the_admin(client, alice_token: str) -> None:
    client.force_login(User.objects.create_superuser("ada", password="x"))

    assert client.get(reverse("admin:authtoken_tokenproxy_changelist")).status_code == 200
    assert client.get(reverse("admin:authtoken_tokenproxy_add")).status_code == 200
    assert b"alice" in client.get(reverse("admin:authtoken_tokenproxy_changelist")).content
