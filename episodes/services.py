"""Episode services (DESIGN §5): starting, resuming and reading episodes, for every way in
(REST, the HTTP fast path, WebSocket, MCP, the review pages). Steps are ``episodes.steps``.

A reset is validated against the contract before anything is looked up or written, and a new
episode's environment becomes a session only once its row is stored.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.db import IntegrityError

from catalog.selectors import DEFAULT_CATALOG, catalog_cached
from envcore.contract import ResetRequest, StepResponse, observation_json, step_body_json, validate
from envcore.env import PolypharmacyEnv
from envcore.observation import Observation
from envcore.render import render_observation
from envcore.tasks import task_reset_arguments
from episodes import async_store
from episodes.models import Episode
from episodes.selectors import catalog_with_id, session_at, session_get
from episodes.sessions import Caller, EpisodeConflict, EpisodeNotFound, EpisodeRow, Session, env_cache

__all__ = ["Caller", "episode_render", "episode_reset", "episode_start_async", "episode_state", "episode_observation",
           "wire_body"]


def reset_request(data: Any) -> ResetRequest:
    """The reset body, validated (a ResetRequest passes through); ValidationError otherwise."""
    return data if isinstance(data, ResetRequest) else validate(ResetRequest, data or {})


def _options(request: ResetRequest) -> tuple[str, str]:
    return request.catalog or DEFAULT_CATALOG, request.durability or settings.POLYPHARMACY_API_DURABILITY


def _start(request: ResetRequest, catalog: Any) -> dict[str, Any]:
    """Which episode a reset starts: the Task API's task when it names a split, else its own
    seed, task and patient."""
    if request.split is not None:
        assert request.index is not None  # ResetRequest refuses a split without an index
        return task_reset_arguments(catalog, request.split, request.index)
    return {"seed": request.seed, "task_id": request.task_id, "patient_id": request.patient_id}


def _anon_key_of(caller: Caller) -> str:
    # An episode records the anonymous key only when no user owns it.
    return caller.anon_key if caller.user_id is None else ""


def _new_row(pk: int, obs: Observation, caller: Caller, catalog_name: str, durability: str, live: bool,
             steps_via: str = "") -> EpisodeRow:
    return EpisodeRow(pk=pk, episode_id=obs.episode_id, status=Episode.Status.OPEN, step_count=0,
                      owner_id=caller.user_id, anon_key=_anon_key_of(caller), catalog=catalog_name,
                      durability=durability, live=live, steps_via=steps_via)


def episode_reset(caller: Caller, data: Any = None, *, live: bool = False, steps_via: str = "",
                  **fields: Any) -> tuple[Session, bool]:
    """Start an episode, or resume the caller's open episode named by ``episode_id``.

    ``data`` is the reset body (a dict or ResetRequest; or pass its fields as keywords).
    Returns (session, resumed). Raises ValidationError (bad argument, nothing written),
    EpisodeConflict (the named episode is finished or someone else's). ``steps_via``: the one
    channel that may step the new episode (``EpisodeRow.steppable_by``)."""
    request = reset_request(data if data is not None else fields)
    catalog_name, durability = _options(request)
    if request.episode_id is not None:
        existing = Episode.objects.filter(episode_id=request.episode_id).values(*EpisodeRow.FIELDS).first()
        if existing is not None:
            row = EpisodeRow.from_values(existing)
            if not row.visible_to(caller):
                raise EpisodeConflict(f"episode_id {request.episode_id!r} is already in use.", field="episode_id")
            if row.status != Episode.Status.OPEN:
                raise EpisodeConflict(
                    f"Episode {request.episode_id!r} has finished; reset with a new episode_id (or none) to "
                    "start another.", field="episode_id",
                )
            session = session_at(row)
            env_cache.put(session)
            return session, True

    catalog, source_id = catalog_with_id(catalog_name)
    env = PolypharmacyEnv(catalog)
    obs = env.reset(episode_id=request.episode_id, **_start(request, catalog))
    try:
        episode = Episode.objects.create(
            episode_id=obs.episode_id, catalog_id=source_id, catalog_fingerprint=catalog.fingerprint,
            task_id=obs.task_id, patient_id=obs.patient_id, owner_id=caller.user_id,
            anon_key=_anon_key_of(caller), durability=durability, live=live, steps_via=steps_via, snapshot=env.snapshot(),
            baseline_risk=obs.baseline_risk, current_risk=obs.current_risk,
        )
    except IntegrityError as exc:  # two resets raced for the same new episode_id
        raise EpisodeConflict(f"episode_id {obs.episode_id!r} is already in use.", field="episode_id") from exc
    session = Session(_new_row(episode.pk, obs, caller, catalog_name, durability, live, steps_via), env)
    env_cache.put(session)
    return session, False


async def episode_start_async(caller: Caller, request: ResetRequest) -> Session | None:
    """A new episode from the event loop (WebSocket, the HTTP fast path): one statement, no
    thread hop.

    Only for what it can decide alone: a fresh episode (no ``episode_id``), on PostgreSQL, with
    the catalog already cached in this process — and the statement itself checks that the catalog
    has not changed since. Otherwise it returns None having written nothing, and the caller takes
    ``episode_reset``."""
    catalog_name, durability = _options(request)
    cached = catalog_cached(catalog_name)
    if request.episode_id is not None or cached is None or not async_store.uses_async_pool():
        return None
    catalog, source_id, (version, updated_at) = cached
    env = PolypharmacyEnv(catalog)
    obs = env.reset(**_start(request, catalog))
    pk = await async_store.insert_episode(
        {
            "episode_id": obs.episode_id, "catalog_id": source_id, "catalog_version": version,
            "catalog_updated_at": updated_at, "catalog_fingerprint": catalog.fingerprint,
            "task_id": obs.task_id, "patient_id": obs.patient_id, "owner_id": caller.user_id,
            "anon_key": _anon_key_of(caller), "durability": durability, "live": False,
            "snapshot": env.snapshot_json().decode(), "baseline_risk": obs.baseline_risk,
            "current_risk": obs.current_risk, "now": datetime.now(dt_timezone.utc),
        },
        fast=durability == Episode.Durability.FAST,
    )
    if pk is None:
        return None
    return Session(_new_row(pk, obs, caller, catalog_name, durability, False), env)


def episode_state(caller: Caller, *, episode_id: str | None = None) -> dict[str, Any]:
    """The episode's state (OpenEnv ``State``); ``{"episode_id": None, "step_count": 0}`` when the
    caller has no episode, as OpenEnv's own server answers."""
    session = session_get(caller, episode_id)
    if session is None:
        return {"episode_id": None, "step_count": 0}
    return session.env.state.to_dict()


def episode_render(caller: Caller, *, episode_id: str | None = None) -> dict[str, Any]:
    """The latest observation of the named (else the caller's most recent) episode as text
    (``RenderResponse``). EpisodeNotFound when there is none to render."""
    session = session_get(caller, episode_id)
    obs = session.env.observation if session is not None else None
    if session is None or obs is None:
        raise EpisodeNotFound("No episode to render for this caller: reset first, or pass episode_id.",
                              field="episode_id")
    return {"episode_id": obs.episode_id, "step_index": obs.step_index, "done": obs.done,
            "text": render_observation(obs.to_dict(), catalog=session.env.catalog)}


def episode_observation(caller: Caller, *, episode_id: str) -> Observation:
    """The latest observation of a visible episode."""
    session = session_get(caller, episode_id)
    assert session is not None and session.env.observation is not None
    return session.env.observation


def wire_body(obs: Observation, *, reset: bool = False, encoded: bytes | None = None) -> bytes:
    """The OpenEnv reset/step body (``StepResponse``) as JSON: exactly observation, reward, done.
    ``encoded``: the observation's JSON when the step path already made it."""
    return step_body_json(encoded or observation_json(obs), None if reset else obs.shaped_reward, obs.done)


def wire_payload(obs: Observation, *, reset: bool = False) -> dict[str, Any]:
    """``wire_body`` as a dict (for answers that embed it: MCP results, tests)."""
    return StepResponse(observation=obs, reward=None if reset else obs.shaped_reward, done=obs.done).model_dump(mode="json")
