"""The event loop's writer (WebSocket, the HTTP fast path): ``store``'s step statement sent
over an asyncpg pool, with no thread hop per step.

DESIGN §5 measured the choices: ``database_sync_to_async`` around ORM lock + insert + update
sustained 137 steps/s; one statement over an async connection 548, and 1,153 with
``synchronous_commit=off``. asyncpg (a binary-protocol driver written for asyncio) spends half
the client CPU per statement that psycopg's async connections did here (0.11 against 0.21-0.25
ms, bench notes in the README), and on a 2-core machine the client's CPU is the step's. So
PostgreSQL gets two asyncpg pools, full and fast durability, the fast one opened with
``synchronous_commit=off`` so the setting costs no round trip. Other databases (SQLite) go
through ``store.write_step`` in a thread.

A pooled connection that the server dropped (killed, restarted) is noticed by asyncpg as soon
as the server closes it, and the pool replaces it on the next checkout: no dead connection is
handed out, and no checkout costs a round trip.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections

from episodes import store

STEP_SQL, STEP_PARAMS = store.positional(store.STEP_TEMPLATE)
LANDED_SQL, LANDED_PARAMS = store.positional(store.LANDED_TEMPLATE)
_pools: dict[tuple[int, bool], Any] = {}


def _connect_kwargs(fast: bool) -> dict[str, Any]:
    # The live connection's settings: under tests they name the test database.
    db = connections["default"].settings_dict
    server_settings = {"application_name": "polypharmacy-async"}
    if fast:
        server_settings["synchronous_commit"] = "off"
    kwargs = {"database": db["NAME"], "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
              "host": db.get("HOST") or None, "port": db.get("PORT") or None, "server_settings": server_settings}
    return {k: v for k, v in kwargs.items() if v is not None}


async def _no_reset(connection: Any) -> None:
    """Connections carry no session state of ours: skip asyncpg's reset query on release (a
    round trip per step)."""


async def _pool(fast: bool) -> Any:
    import asyncpg

    key = (id(asyncio.get_running_loop()), fast)
    pool = _pools.get(key)
    if pool is None:
        # Connecting and every statement are bounded as Django's pool is (DATABASE_WAIT_S): a
        # database that does not answer is a 503, not a client left hanging.
        pool = _pools[key] = await asyncpg.create_pool(
            min_size=1, max_size=settings.POLYPHARMACY_WS_DB_POOL_MAX, reset=_no_reset,
            timeout=settings.DATABASE_WAIT_S, command_timeout=settings.DATABASE_WAIT_S, **_connect_kwargs(fast),
        )
    return pool


def uses_async_pool() -> bool:
    return connections["default"].vendor == "postgresql"


async def write_step(values: Mapping[str, Any], *, fast: bool = False) -> bool:
    """Write one step; False when the episode moved on since ``values["previous"]``. Raises a
    connection error when the database fails (see ``step_landed``)."""
    if not uses_async_pool():
        return await database_sync_to_async(store.write_step)(values, fast=fast)
    pool = await _pool(fast)
    return await pool.fetchval(STEP_SQL, *[values[name] for name in STEP_PARAMS]) is not None


async def step_landed(values: Mapping[str, Any]) -> bool:
    """Whether this step is stored (asked on another connection after a failed write)."""
    if not uses_async_pool():
        return await database_sync_to_async(store.step_landed)(values)
    pool = await _pool(False)
    return await pool.fetchval(LANDED_SQL, *[values[name] for name in LANDED_PARAMS]) is not None


# A new episode, written only if the catalog is still at the version the caller built it from.
EPISODE_SQL = """
INSERT INTO episodes_episode
    (episode_id, catalog_id, catalog_fingerprint, task_id, patient_id, owner_id, anon_key, status,
     durability, step_count, live, snapshot, baseline_risk, current_risk, grader_score,
     created_at, updated_at, finished_at)
SELECT $1, c.id, $2, $3, $4, $5, $6, 'open', $7, 0, $8, $9::jsonb, $10, $11, NULL, $12, $12, NULL
  FROM catalog_catalogsource c
 WHERE c.id = $13 AND c.version = $14 AND c.updated_at = $15
RETURNING id
"""
EPISODE_PARAMS = ("episode_id", "catalog_fingerprint", "task_id", "patient_id", "owner_id", "anon_key", "durability",
                  "live", "snapshot", "baseline_risk", "current_risk", "now", "catalog_id", "catalog_version",
                  "catalog_updated_at")


async def insert_episode(values: Mapping[str, Any], *, fast: bool = False) -> int | None:
    """Create an episode in one statement; None when the catalog changed since the caller's
    copy (nothing written). PostgreSQL only (``uses_async_pool``)."""
    pool = await _pool(fast)
    return await pool.fetchval(EPISODE_SQL, *[values[name] for name in EPISODE_PARAMS])


async def close_pools() -> None:
    """Close the pools of the running loop (tests, shutdown)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _pools if k[0] == loop_id]:
        await _pools.pop(key).close()
