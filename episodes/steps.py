"""The one step path (DESIGN §5). Every way in — the REST view, the HTTP fast path, the
WebSocket, MCP and the review pages — takes a step here, in three moves:

1. ``step_prepare``: apply the action to a fork of the session's environment; the session, the
   cache and the database are untouched;
2. write the Step row (with the new snapshot) and the episode's step count in one statement,
   conditional on the step count the fork started from (``store`` from a thread,
   ``async_store`` from the event loop);
3. ``step_commit``: only once the write is stored, make the fork current (the returned session,
   the process cache) and tell the episode's live watchers.

A write that fails changes nothing: the caller gets an error and its session stays at the last
stored step, so the next step gets the next index. When the connection dies mid-statement the
outcome is unknown (the commit may have landed before the answer was lost), so the database is
asked whether this very step is stored: if it is, the step is acknowledged; if not, it is
sent once more on a fresh connection (the conditional write cannot apply it twice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction

from envcore.contract import FinishReview, ProposeIntervention, QueryDDI, observation_json, parse_action
from envcore.observation import Observation
from episodes import async_store, live, store
from episodes.errors import connection_failed
from episodes.selectors import session_for_step
from episodes.sessions import Caller, EpisodeConflict, EpisodeNotFound, Session, StepNotStored, env_cache

log = logging.getLogger(__name__)
MAX_CONFLICT_RETRIES = 8
# A write whose connection died is checked (and sent again if it did not land) on fresh
# connections, a few times, as long as the step has been waiting less than LANDED_WINDOW_S: a
# database that stays away this long is down, and the client hears so (503) instead of hanging
# (each attempt may itself wait up to DATABASE_WAIT_S for a connection).
LANDED_ATTEMPTS = 4
LANDED_BACKOFF_S = 0.05
LANDED_WINDOW_S = 6.0
NOT_STORED = ("The database did not answer and the step could not be stored; the episode is as it was before "
              "it (send state to check), retry the step.")
AnyAction = QueryDDI | ProposeIntervention | FinishReview


@dataclass(frozen=True)
class Pending:
    """A step applied to a fork, not yet stored."""

    session: Session  # the fork and its row as they will be once the step is stored
    action: AnyAction
    observation: Observation
    observation_json: bytes
    values: dict[str, Any]  # what the step writes (``store.EPISODE_UPDATE`` and ``STEP_INSERT``)

    @property
    def fast(self) -> bool:
        return self.session.row.durability == "fast"


@dataclass(frozen=True)
class StepResult:
    session: Session  # the caller's session after the step
    observation: Observation
    observation_json: bytes  # the observation as stored, for the reply


def episode_status(obs: Observation) -> str:
    """The Episode.status a step leaves: open, terminated (finish_review) or truncated (time limit)."""
    return "truncated" if obs.truncated else "terminated" if obs.terminated else "open"


def step_prepare(session: Session, act: AnyAction, caller: Caller) -> Pending:
    """Apply ``act`` to a fork of the session's environment and encode what the step writes.
    Raises EpisodeConflict on a finished episode."""
    if not session.row.steppable_by(caller):
        # One path for a review session's actions: its pages, which refuse what the review would
        # refuse and audit every action. Other channels may read it (state), never step it.
        raise EpisodeConflict(
            f"Episode {session.row.episode_id!r} is a review session: act on it on its review page, where every "
            f"action is audited; {caller.channel or 'this channel'} may read it but not step it.",
            field="episode_id",
        )
    if not session.steppable:
        raise EpisodeConflict(f"Episode {session.row.episode_id!r} has finished; reset to start another.")
    trial = session.env.fork()
    started = time.perf_counter()
    obs = trial.step(act)
    duration_ms = (time.perf_counter() - started) * 1000.0
    encoded = observation_json(obs)
    now = datetime.now(timezone.utc)
    status = episode_status(obs)
    row = session.row
    values = {
        "pk": row.pk, "previous": row.step_count,
        # Episode
        "step_count": obs.step_index, "status": status, "current_risk": obs.current_risk, "grader_score": obs.grader_score, "updated_at": now,
        "finished_at": now if status != "open" else None,
        # Step
        "index": obs.step_index, "actor_id": caller.user_id, "actor_label": caller.label,
        "action": act.model_dump_json(exclude_none=True), "observation": encoded.decode(),
        "snapshot": trial.snapshot_json().decode(), "reward": obs.shaped_reward, "raw_reward": obs.raw_reward, "done": obs.done, "created_at": now,
        "duration_ms": duration_ms,
    }
    return Pending(Session(row.after(obs.step_index, status), trial), act, obs, encoded, values)


def _live_message(pending: Pending) -> dict[str, Any]:
    obs = pending.observation
    return live.step_message(pending.session.row.episode_id, obs.step_index, pending.values["actor_label"],
                             pending.action.to_dict(), {"observation": obs.to_dict(), "reward": obs.shaped_reward,
                                                        "done": obs.done})


def step_commit(pending: Pending, *, cache: bool = True) -> StepResult:
    """After the write is stored: the fork becomes the session (and the cache's entry)."""
    if cache:
        env_cache.put(pending.session)
    return StepResult(pending.session, pending.observation, pending.observation_json)


# ── from a thread (REST, MCP, review pages) ────────────────────────────────
def episode_step(caller: Caller, *, action: Any, episode_id: Any = None) -> StepResult:
    """Take one step on the caller's episode (named, or their most recent open one).

    The action is validated before anything is looked up. With the episode's session cached
    here, a step is one round trip: the conditional write itself checks nobody else stepped it.
    Raises ValidationError, EpisodeNotFound, EpisodeConflict or StepNotStored."""
    act = parse_action(action)
    for _attempt in range(MAX_CONFLICT_RETRIES):
        session = session_for_step(caller, episode_id)
        pending = step_prepare(session, act, caller)
        if _write(pending, session):
            result = step_commit(pending)
            if pending.session.row.live:
                message = _live_message(pending)
                # After commit: a caller's enclosing transaction (the review pages') must land
                # first, so a watcher never sees a step that could still roll back.
                transaction.on_commit(lambda: live.publish_step(message))
            return result
        episode_id = session.row.episode_id  # lost a race: re-read the row and try again
    raise EpisodeConflict("The episode is being stepped concurrently; retry.")


def _write(pending: Pending, before: Session) -> bool:
    deadline = time.monotonic() + LANDED_WINDOW_S
    try:
        return store.write_step(pending.values, fast=pending.fast)
    except Exception as exc:
        if not connection_failed(exc):
            env_cache.put(before)  # the statement failed: nothing was written
            raise
        if store.in_transaction():
            # An enclosing transaction (the review pages') is lost with its connection: nothing of
            # it is stored, and this error rolls it back as a whole.
            raise StepNotStored(NOT_STORED) from exc
        log.warning("step write on %s failed (%s); checking whether it landed", before.row.episode_id, exc)
    for attempt in range(LANDED_ATTEMPTS):
        if time.monotonic() > deadline:
            break
        try:
            # The write is conditional on the step count it started from: sent again, it cannot
            # apply twice.
            return store.step_landed(pending.values) or store.write_step(pending.values, fast=pending.fast)
        except Exception as exc:
            if not connection_failed(exc):
                raise
            time.sleep(LANDED_BACKOFF_S * (attempt + 1))
    raise StepNotStored(NOT_STORED)


# ── from the event loop (WebSocket, the HTTP fast path) ────────────────────
async def episode_step_async(caller: Caller, session: Session, action: Any, *, cache: bool = True) -> StepResult:
    """Take one step on a session this caller holds, from the event loop.

    The write goes over the async pool; if another writer stepped the episode meanwhile (the
    write is refused), the step is taken by ``episode_step`` from the stored state, in a
    thread. ``cache``: put the new session in the process cache (the HTTP fast path) or not (a
    WebSocket keeps its own)."""
    act = parse_action(action)
    if not session.row.visible_to(caller):
        raise EpisodeNotFound(f"No episode {session.row.episode_id!r} for this caller.", field="episode_id")
    pending = step_prepare(session, act, caller)
    written = await _write_async(pending)
    if not written:
        # Someone else stepped this episode: redo the step on the stored state.
        return await database_sync_to_async(episode_step)(caller, action=act, episode_id=session.row.episode_id)
    result = step_commit(pending, cache=cache)
    if pending.session.row.live:
        await live.publish_step_async(_live_message(pending))
    return result


async def _write_async(pending: Pending) -> bool:
    deadline = time.monotonic() + LANDED_WINDOW_S
    try:
        return await async_store.write_step(pending.values, fast=pending.fast)
    except Exception as exc:
        if not connection_failed(exc):
            raise
        log.warning("step write on %s failed (%s); checking whether it landed", pending.session.row.episode_id, exc)
    for attempt in range(LANDED_ATTEMPTS):
        if time.monotonic() > deadline:
            break
        try:
            landed = await async_store.step_landed(pending.values)
            return landed or await async_store.write_step(pending.values, fast=pending.fast)
        except Exception as exc:
            if not connection_failed(exc):
                raise
            await asyncio.sleep(LANDED_BACKOFF_S * (attempt + 1))
    raise StepNotStored(NOT_STORED)
