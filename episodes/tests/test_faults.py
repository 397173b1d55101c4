"""Database faults under load, on a real server: PostgreSQL connections are killed
(``pg_terminate_backend``) at random moments, between and during steps, while clients step
over the WebSocket, over HTTP's fast path and over the DRF view.

For each client: every step it saw acknowledged is stored, the stored indices are 1..N without
a gap, the stored actions are exactly the acknowledged ones, the stored snapshot equals a replay
of exactly those actions, the session goes on after every error, and once the killing stops the
pools serve every step again without a restart.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from episodes.tests.conftest import FINISH, http_json, ws_request, ws_url
from testsupport.live_server import LiveServer
from polypharmacy_site.testing import requires_postgres

pytestmark = [pytest.mark.live, requires_postgres]
STEPS = 24  # actions each client tries while connections are killed (complex_tradeoff allows 30)
# Kills this far apart: often enough to hit every client, rarely enough for the pools to reconnect
# in between (psycopg's pool waits a second after a failed check before the next).
KILL_EVERY_S = (1.0, 2.0)
PACE_S = 0.3  # between a client's steps: the run spans several kills


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer() as live:
        yield live


class Killer(threading.Thread):
    """Until stopped, in turn: terminates every connection of the server's database between
    steps, and the connection of a step's write while it runs. For the second, the killer holds
    the episodes' row locks for a moment, so a write that comes is certainly under way (waiting
    on the lock, in pg_stat_activity) when its connection is killed: watching for a write that
    takes a millisecond would often find it already done."""

    def __init__(self, server: LiveServer) -> None:
        super().__init__(daemon=True)
        self.server, self.stop = server, threading.Event()
        self.between = self.during = 0

    def run(self) -> None:
        import psycopg

        rng = random.Random(7)
        with psycopg.connect(self.server.pg_admin_url, autocommit=True) as admin:
            turn = 0
            while not self.stop.is_set():
                if turn % 2 == 0:
                    self.between += admin.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                        (self.server.db_name,)).fetchone()[0]
                else:
                    with psycopg.connect(self.server.env["DATABASE_URL"]) as locker:
                        locker.execute("SELECT id FROM episodes_episode WHERE status = 'open' FOR UPDATE")
                        deadline = time.monotonic() + 2
                        while time.monotonic() < deadline and not self.stop.is_set():
                            killed = admin.execute(
                                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s "
                                "AND state = 'active' AND query LIKE 'WITH u AS (UPDATE%%'",
                                (self.server.db_name,)).fetchone()[0]
                            if killed:
                                self.during += killed
                                break
                            time.sleep(0.01)
                        locker.rollback()
                turn += 1
                time.sleep(rng.uniform(*KILL_EVERY_S))


def actions_for(observation: dict[str, Any]) -> list[dict[str, Any]]:
    """Steps that never end the episode: queries of the regimen's pairs and of a foreign drug
    (a refused, penalised step), in a fixed order."""
    drugs = [m["drug_id"] for m in observation["current_medications"]]
    pairs = [(a, b) for i, a in enumerate(drugs) for b in drugs[i + 1:]]
    out = []
    for i in range(STEPS):
        if i % 3 == 2 or i // 3 >= len(pairs):
            out.append({"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": "DRUG_NOT_HERE"})
        else:
            a, b = pairs[i // 3 * 2 % len(pairs)]
            out.append({"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b})
    return out


def stored(server: LiveServer, episode_id: str) -> tuple[list[int], list[dict], dict | None]:
    """(indices, actions, the latest step's snapshot) as the server's database holds them."""
    import psycopg

    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        rows = conn.execute(
            'SELECT s."index", s.action, s.snapshot FROM episodes_step s JOIN episodes_episode e ON e.id = s.episode_id '
            'WHERE e.episode_id = %s ORDER BY s."index"', (episode_id,)).fetchall()
    return [r[0] for r in rows], [r[1] for r in rows], rows[-1][2] if rows else None


def replay(observation: dict[str, Any], actions: list[dict]) -> dict[str, Any]:
    env = PolypharmacyEnv(Catalog.load(observation["catalog"]))
    env.reset(patient_id=observation["patient_id"], task_id=observation["task_id"],
              episode_id=observation["episode_id"])
    for action in actions:
        env.step(action)
    return env.snapshot()


async def ws_client(server: LiveServer, seed: int, start: threading.Event) -> tuple[dict, list[dict], int]:
    async with websockets.connect(ws_url(server)) as ws:
        reset = await ws_request(ws, {"type": "reset", "data": {"task_id": "complex_tradeoff", "seed": seed,
                                                                  "catalog": "classic"}})
        observation = reset["data"]["observation"]
        await asyncio.get_running_loop().run_in_executor(None, start.wait)
        acked, errors = [], 0
        for action in actions_for(observation):
            await asyncio.sleep(PACE_S)
            reply = await ws_request(ws, {"type": "step", "data": action})
            if reply["type"] == "observation":
                acked.append(action)
                assert reply["data"]["observation"]["step_index"] == len(acked)
            else:
                assert reply["data"]["code"] in ("EXECUTION_ERROR", "SESSION_ERROR"), reply
                errors += 1
        return observation, acked, errors


def http_client(server: LiveServer, seed: int, start: threading.Event, headers: dict[str, str]) -> tuple[dict, list[dict], int]:
    status, body = http_json(server, "POST", "/reset", {"task_id": "complex_tradeoff", "seed": seed,
                                                          "catalog": "classic"}, headers=headers)
    assert status == 200, body
    observation = body["observation"]
    start.wait()
    acked, errors = [], 0
    for action in actions_for(observation):
        time.sleep(PACE_S)
        status, reply = http_json(server, "POST", "/step", {"action": action, "episode_id": observation["episode_id"]},
                                  headers=headers)
        if status == 200:
            acked.append(action)
            assert reply["observation"]["step_index"] == len(acked)
        else:
            assert status in (503, 409), (status, reply)
            assert isinstance(reply, dict) and "detail" in reply  # JSON, whatever failed
            errors += 1
    return observation, acked, errors


def test_killed_connections_lose_no_acknowledged_step_and_leave_no_gap(server: LiveServer) -> None:
    start, killer = threading.Event(), Killer(server)
    results: dict[str, Any] = {}

    def run_ws(name: str, seed: int) -> None:
        try:
            results[name] = asyncio.run(ws_client(server, seed, start))
        except BaseException as exc:  # reported by the assertions below, not lost in a thread
            results[name] = exc

    def run_http(name: str, seed: int, headers: dict[str, str]) -> None:
        try:
            results[name] = http_client(server, seed, start, headers)
        except BaseException as exc:
            results[name] = exc

    clients = [
        threading.Thread(target=run_ws, args=("ws", 1)),
        threading.Thread(target=run_http, args=("http fast path", 2, {})),
        # Any session cookie takes the DRF view (Django's own pool) instead of the fast path.
        threading.Thread(target=run_http, args=("http view", 3, {"Cookie": "sessionid=none"})),
    ]
    for client in clients:
        client.start()
    time.sleep(1.0)  # every client has reset
    killer.start()
    start.set()
    # A step that meets a killed connection can wait out the pool's timeout (5 s) before its
    # 503: on a busy 2-core machine one client's 24 steps took over two minutes. The check is
    # what was stored, not how fast the errors came, so the clients get one shared deadline.
    deadline = time.monotonic() + 240
    for client in clients:
        client.join(max(0.0, deadline - time.monotonic()))
    killer.stop.set()
    killer.join(10)

    # Connections really were killed, between steps and in the middle of a step's write.
    assert killer.between >= 3 and killer.during >= 3, (killer.between, killer.during)
    assert "checking whether it landed" in server.log()
    failed = {name: repr(result) for name, result in results.items() if isinstance(result, BaseException)}
    assert not failed, (failed, server.log()[-6000:])
    assert set(results) == {"ws", "http fast path", "http view"}, (results.keys(), server.log()[-3000:])
    for name, (observation, acked, _errors) in results.items():
        indices, actions, snapshot = stored(server, observation["episode_id"])
        assert indices == list(range(1, len(acked) + 1)), name
        assert actions == acked, name
        assert snapshot == replay(observation, acked), name
    assert "Traceback" not in server.log()


def test_after_the_killing_stops_every_step_is_served_again(server: LiveServer) -> None:
    killer = Killer(server)
    killer.start()
    time.sleep(0.5)
    killer.stop.set()
    killer.join(10)

    async def over_ws() -> list[str]:
        async with websockets.connect(ws_url(server)) as ws:
            await ws_request(ws, {"type": "reset", "data": {"task_id": "easy_screening", "catalog": "classic"}})
            return [(await ws_request(ws, {"type": "step", "data": FINISH}))["type"]]

    # No streak of failures: the first request after the faults is served by both pools.
    assert http_json(server, "GET", "/health")[1]["database"] == "ok"
    status, body = http_json(server, "POST", "/reset", {"task_id": "easy_screening", "catalog": "classic"})
    assert status == 200
    assert http_json(server, "POST", "/step", {"action": FINISH, "episode_id": body["observation"]["episode_id"]})[0] == 200
    status, body = http_json(server, "POST", "/reset", {"task_id": "easy_screening"}, headers={"Cookie": "sessionid=x"})
    assert status == 200
    assert asyncio.run(over_ws()) == ["observation"]
