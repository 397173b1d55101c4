"""A small named world for the OpenEnv API tests.

- the people come from the shared world (testsupport/world.py): alice with her API token
  (``alice_token``), bob who must never see her episodes (``bob_token``).
- ``catalogs``: both catalogs loaded once per module inside a transaction that is rolled back
  when the module ends; each test's own transaction nests inside it as a savepoint, so a test
  costs no catalog load. Modules of in-process WebSocket tests (``transaction=True``, where
  every test ends with a flush) load the small classic catalog per test instead.
- ``env_server``: a real server process (module-scoped: a start costs seconds) with a database
  of its own, for what only a real socket shows: WebSockets, concurrency, crashes.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import closing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.test import Client

from catalog.selectors import catalog_cache_clear
from catalog.services import catalog_load
from episodes.models import Episode, Step
from episodes.api import ANON_COOKIE  # noqa: F401 (re-exported for the tests)
from episodes.sessions import env_cache
from testsupport.live_server import LiveServer

# A refused action: well-formed, but no such drug in any regimen.
FOREIGN_QUERY = {"action_type": "query_ddi", "drug_id_1": "DRUG_NOT_THERE", "drug_id_2": "DRUG_NOR_THIS"}
FINISH = {"action_type": "finish_review"}


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    # Rolled-back tests reuse primary keys: an env cached for episode pk 1 in one test must not
    # answer for another test's episode pk 1.
    catalog_cache_clear()
    env_cache.clear()
    yield
    env_cache.clear()
    catalog_cache_clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A module that uses ``catalogs`` holds no transactional test. pytest-django runs every
    transactional test after all the others, but pytest-xdist hands a module's tests to one
    process together, so a transactional test there would meet the module's open transaction
    (its flush: "cannot TRUNCATE ... pending trigger events")."""
    kinds: dict[str, set[str]] = {}
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        marker = item.get_closest_marker("django_db")
        transactional = "transactional_db" in names or bool(marker and marker.kwargs.get("transaction"))
        module = kinds.setdefault(item.nodeid.split("::")[0], set())
        module.update({"catalogs"} if "catalogs" in names else set())
        module.update({"transactional"} if transactional else set())
    mixed = sorted(path for path, found in kinds.items() if found == {"catalogs", "transactional"})
    if mixed:
        raise pytest.UsageError(f"transactional tests beside the module-wide catalogs fixture in {', '.join(mixed)}: "
                                "move them to a module of their own")


@pytest.fixture(scope="module")
def catalogs(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            catalog_load(name="classic")
            catalog_load(name="curated")
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def classic_catalog(transactional_db: None) -> None:
    """The classic catalog in a flushed-per-test database (reset with ``catalog: classic``)."""
    catalog_load(name="classic")


@pytest.fixture
def auth_required(settings: Any) -> None:
    settings.POLYPHARMACY_API_AUTH = "required"


# ── HTTP helpers ─────────────────────────────────────────────────────────────
def post(client: Client, path: str, body: Any = None, *, raw: str | bytes | None = None, **headers: str):
    """POST a JSON body (or raw bytes) the way an OpenEnv client does."""
    data = raw if raw is not None else json.dumps({} if body is None else body)
    return client.post(path, data=data, content_type="application/json", headers=headers)


def reset(client: Client, **body: Any):
    return post(client, "/reset", body)


def step(client: Client, action: Any, **body: Any):
    return post(client, "/step", {"action": action, **body})


def started(client: Client, **body: Any) -> dict[str, Any]:
    """Reset, assert it worked, and return the observation."""
    response = reset(client, **body)
    assert response.status_code == 200, response.content
    return response.json()["observation"]


def database_rows() -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """Every episode's mutable fields and every step's (episode, index): equal before and after
    a refused request means the request changed nothing."""
    episodes = [dict(row) for row in
                Episode.objects.order_by("pk").values("pk", "status", "step_count", "snapshot", "updated_at")]
    steps = list(Step.objects.order_by("pk").values_list("episode_id", "index"))
    return episodes, steps


def regimen(observation: dict[str, Any]) -> list[str]:
    return [med["drug_id"] for med in observation["current_medications"]]


# ── WebSocket helpers ────────────────────────────────────────────────────────
def run_async(coroutine_function: Callable[[], Any]) -> Any:
    """Run an async test body, then close the WebSocket writer's PostgreSQL pools opened on its
    loop (an open connection would stop the test database from being flushed or dropped)."""
    from episodes import async_store

    async def body() -> Any:
        try:
            return await coroutine_function()
        finally:
            await async_store.close_pools()

    return async_to_sync(body)()


async def ws_send(communicator: Any, frame: Any) -> dict[str, Any]:
    """Send one frame (a dict, or raw text) and return the one reply."""
    text = frame if isinstance(frame, str) else json.dumps(frame)
    await communicator.send_to(text_data=text)
    return json.loads(await communicator.receive_from(timeout=10))


# ── the live server ──────────────────────────────────────────────────────────
@pytest.fixture(scope="module")
def env_server() -> Iterator[LiveServer]:
    """A real server process with its own database. (Not named ``live_server``: pytest-django's
    fixture of that name serves WSGI only, and its autouse helper expects its own object.)"""
    with LiveServer() as server:
        yield server


def http_json(server: LiveServer, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
              timeout: float = 30) -> tuple[int, Any]:
    """One request to the live server with no cookies: (status, JSON body)."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            return exc.code, json.loads(payload)
        except ValueError:
            return exc.code, payload.decode(errors="replace")


def ws_url(server: LiveServer, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/ws" + (f"?{query}" if query else "")


async def ws_request(ws: Any, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), timeout=30))


def stored_step_indices(server: LiveServer, episode_id: str) -> list[int]:
    """The Step indices the live server's own database holds for an episode, in order."""
    sql = ('SELECT s."index" FROM episodes_step s JOIN episodes_episode e ON e.id = s.episode_id '
           'WHERE e.episode_id = {} ORDER BY s."index"')
    if server.env["DATABASE_URL"]:
        import psycopg

        with psycopg.connect(server.env["DATABASE_URL"]) as conn:
            return [row[0] for row in conn.execute(sql.format("%s"), (episode_id,))]
    import sqlite3

    with closing(sqlite3.connect(f"{server.tmp.name}/db.sqlite3")) as conn:
        return [row[0] for row in conn.execute(sql.format("?"), (episode_id,))]
