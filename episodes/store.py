"""Writing a step: one Step row plus the episode's new snapshot, atomically, and only if the
episode is still at the step count the writer restored (optimistic concurrency).

On PostgreSQL the write is a single statement (``WITH u AS (UPDATE … RETURNING) INSERT …``):
one round trip, atomic on its own. DESIGN §5 measured this at about twice the throughput of
lock + insert + update. Elsewhere (SQLite) it is a conditional UPDATE then an INSERT in one
transaction. ``fast`` durability (training episodes) commits with ``synchronous_commit = off``:
a crash of the web process loses nothing, only a crash of the database server itself could lose
the last few milliseconds of steps.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any, Mapping

from django.db import connection, transaction

from envcore.actions import Action
from envcore.env import PolypharmacyEnv
from envcore.observation import Observation

# The statement both the sync (Django cursor) and async (psycopg) writers send.
PG_STEP_SQL = """
WITH u AS (
    UPDATE episodes_episode
       SET step_count = %(index)s, status = %(status)s, snapshot = %(snapshot)s::jsonb,
           current_risk = %(current_risk)s, grader_score = %(grader_score)s,
           updated_at = %(now)s, finished_at = %(finished_at)s
     WHERE id = %(pk)s AND step_count = %(previous)s AND status = 'open'
 RETURNING id
)
INSERT INTO episodes_step
    (episode_id, index, actor_id, actor_label, action, observation, reward, raw_reward, done,
     created_at, duration_ms)
SELECT id, %(index)s, %(actor_id)s, %(actor_label)s, %(action)s::jsonb, %(observation)s::jsonb,
       %(reward)s, %(raw_reward)s, %(done)s, %(now)s, %(duration_ms)s
  FROM u
RETURNING id
"""


def episode_status(obs: Observation) -> str:
    """The Episode.status a step leaves: open, terminated (finish_review) or truncated (time limit)."""
    return "truncated" if obs.truncated else "terminated" if obs.terminated else "open"


def step_env(
    row: Mapping[str, Any], env: PolypharmacyEnv, act: Action, caller: Any
) -> tuple[Observation, dict[str, Any]]:
    """Step the episode's environment and return (observation, everything written for the step).

    JSON is encoded here once, so both writers send the same and a caller can reuse
    ``values["observation"]`` as the reply's observation. Raises envcore's EpisodeFinishedError
    when the environment has ended."""
    started = time.perf_counter()
    obs = env.step(act)
    duration_ms = (time.perf_counter() - started) * 1000.0
    now = datetime.now(timezone.utc)
    status = episode_status(obs)
    return obs, {
        "pk": row["pk"],
        "previous": row["step_count"],
        "index": obs.step_index,
        "status": status,
        "snapshot": json.dumps(env.snapshot()),
        "current_risk": obs.current_risk,
        "grader_score": obs.grader_score,
        "now": now,
        "finished_at": now if status != "open" else None,
        "actor_id": caller.user_id,
        "actor_label": caller.label,
        "action": json.dumps(act.to_dict()),
        "observation": json.dumps(obs.to_dict()),
        "reward": obs.shaped_reward,
        "raw_reward": obs.raw_reward,
        "done": obs.done,
        "duration_ms": duration_ms,
    }


def write_step(values: Mapping[str, Any], *, fast: bool = False) -> bool:
    """Write one step through Django's connection. False: the episode moved on (or finished)
    since ``values["previous"]``, and nothing was written."""
    if connection.vendor == "postgresql":
        if fast:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                    cursor.execute(PG_STEP_SQL, values)
                    return cursor.fetchone() is not None
        with connection.cursor() as cursor:
            cursor.execute(PG_STEP_SQL, values)
            return cursor.fetchone() is not None
    return _write_step_orm(values)


def _write_step_orm(values: Mapping[str, Any]) -> bool:
    from episodes.models import Episode, Step

    with transaction.atomic():
        updated = Episode.objects.filter(pk=values["pk"], step_count=values["previous"], status="open").update(
            step_count=values["index"],
            status=values["status"],
            snapshot=json.loads(values["snapshot"]),
            current_risk=values["current_risk"],
            grader_score=values["grader_score"],
            updated_at=values["now"],
            finished_at=values["finished_at"],
        )
        if updated != 1:
            return False
        Step.objects.create(
            episode_id=values["pk"],
            index=values["index"],
            actor_id=values["actor_id"],
            actor_label=values["actor_label"],
            action=json.loads(values["action"]),
            observation=json.loads(values["observation"]),
            reward=values["reward"],
            raw_reward=values["raw_reward"],
            done=values["done"],
            created_at=values["now"],
            duration_ms=values["duration_ms"],
        )
    return True
