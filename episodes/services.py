"""Episode services: the one path by which REST, WebSocket, MCP and the review pages start,
step and read episodes (DESIGN §5).

A step is: find the caller's episode, get its environment (an in-process cache validated by the
episode's step count, else a restore from the stored snapshot), step it, then write the Step row
and the new snapshot in one atomic statement that only succeeds if nobody stepped the episode in
between (``WHERE step_count = <what we restored>``). A conflict restores from the database and
tries again, so concurrent steps serialize and none is lost or duplicated.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from datetime import timezone as dt_timezone
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

from django.conf import settings
from django.db import IntegrityError, transaction

from catalog.selectors import DEFAULT_CATALOG, CatalogNotLoaded, catalog_cached, catalog_get_with_id
from envcore.actions import Action, parse_action
from envcore.catalog import CATALOG_NAMES
from envcore.env import PolypharmacyEnv
from envcore.errors import EnvError, EpisodeFinishedError, SnapshotError, ValidationError
from envcore.observation import Observation
from episodes import live, store
from episodes.models import Episode

MAX_CONFLICT_RETRIES = 8


class EpisodeNotFound(EnvError):
    """No such episode for this caller (unknown, or someone else's: the same answer, 404)."""

    code = "SESSION_ERROR"


class EpisodeConflict(EnvError):
    """The episode cannot take this request now (finished, or contended beyond retries): 409."""

    code = "SESSION_ERROR"


class ServiceUnavailable(EnvError):
    """The site cannot serve episodes yet (e.g. the catalog is not loaded): 503."""


@dataclass(frozen=True)
class Caller:
    """Who is acting: a user, or an anonymous client identified by its session key."""

    user_id: int | None = None
    anon_key: str = ""
    label: str = "anonymous"

    @classmethod
    def for_user(cls, user: Any, *, channel: str, anon_key: str = "") -> "Caller":
        if user is not None and getattr(user, "is_authenticated", False):
            return cls(user_id=user.pk, label=f"{channel}:{user.get_username()}")
        return cls(anon_key=anon_key, label="anonymous")


# ── in-process environment cache ───────────────────────────────────────────
class EnvCache:
    """Recently used environments by episode id, each with the row fields it was loaded with
    (owner, status, step count...).

    An entry is a guess, never trusted blindly: a step writes only ``WHERE step_count = <the
    entry's>``, so when another process stepped the episode meanwhile the write is refused and the
    step is redone from the stored snapshot. Entries are taken out while in use, so a failed
    write can never leave a half-stepped environment behind."""

    def __init__(self, size: int = 2048) -> None:
        self._entries: OrderedDict[str, tuple[dict[str, Any], PolypharmacyEnv]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def take(self, episode_id: str) -> tuple[dict[str, Any], PolypharmacyEnv] | None:
        with self._lock:
            return self._entries.pop(episode_id, None)

    def put(self, row: dict[str, Any], env: PolypharmacyEnv) -> None:
        with self._lock:
            self._entries[row["episode_id"]] = (row, env)
            self._entries.move_to_end(row["episode_id"])
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


env_cache = EnvCache()


# ── look-ups ───────────────────────────────────────────────────────────────
_ROW_FIELDS = (
    "pk", "episode_id", "status", "step_count", "owner_id", "anon_key", "catalog__name", "durability", "live",
)


def _visible(caller: Caller, owner_id: int | None) -> bool:
    # An episode with an owner is that user's alone; an anonymous episode is addressed by its
    # unguessable id, so whoever knows the id may drive it (DESIGN §2, local use).
    return owner_id is None or owner_id == caller.user_id


def _episode_row(caller: Caller, episode_id: str | None, *, open_only: bool) -> dict[str, Any] | None:
    """The named episode if the caller may see it, else the caller's most recent one."""
    if episode_id is not None:
        if not isinstance(episode_id, str) or not episode_id or len(episode_id) > 255:
            raise ValidationError("episode_id must be a non-empty string of at most 255 characters.", field="episode_id")
        row = Episode.objects.filter(episode_id=episode_id).values(*_ROW_FIELDS).first()
        if row is None or not _visible(caller, row["owner_id"]):
            raise EpisodeNotFound(f"No episode {episode_id!r} for this caller.", field="episode_id")
        return row
    if caller.user_id is not None:
        mine = Episode.objects.filter(owner_id=caller.user_id)
    elif caller.anon_key:
        mine = Episode.objects.filter(owner__isnull=True, anon_key=caller.anon_key)
    else:
        return None
    if open_only:
        mine = mine.filter(status=Episode.Status.OPEN)
    return mine.order_by("-updated_at", "-pk").values(*_ROW_FIELDS).first()


def _catalog(name: str):
    return _catalog_with_id(name)[0]


def _catalog_with_id(name: str):
    try:
        return catalog_get_with_id(name)
    except CatalogNotLoaded as exc:
        raise ServiceUnavailable(str(exc)) from exc


def _restore(row: Mapping[str, Any]) -> PolypharmacyEnv:
    snapshot = Episode.objects.filter(pk=row["pk"]).values_list("snapshot", flat=True).first()
    if snapshot is None:
        raise EpisodeNotFound(f"No episode {row['episode_id']!r}.", field="episode_id")
    env = PolypharmacyEnv(_catalog(row["catalog__name"]))
    try:
        # Not strict: a curator's edit since the reset must not strand the episode; it
        # continues on the catalog as it is now (its baseline risk stays the stored one).
        env.restore(snapshot, strict=False)
    except SnapshotError as exc:
        raise EpisodeConflict(f"Episode {row['episode_id']!r} cannot be resumed: {exc.message}") from exc
    return env


def environment_for(row: Mapping[str, Any]) -> PolypharmacyEnv:
    """The episode's environment at the row's step (cached or restored); the caller owns it
    until it calls ``env_cache.put`` again."""
    entry = env_cache.take(row["episode_id"])
    if entry is not None and entry[0]["step_count"] == row["step_count"]:
        return entry[1]
    return _restore(row)


# ── services ───────────────────────────────────────────────────────────────
def _reset_options(catalog: Any, durability: Any) -> tuple[str, str]:
    catalog_name = DEFAULT_CATALOG if catalog is None else catalog
    if catalog_name not in CATALOG_NAMES:
        raise ValidationError(f"catalog must be one of {', '.join(CATALOG_NAMES)}.", field="catalog")
    if durability is None:
        durability = settings.POLYPHARMACY_API_DURABILITY
    if durability not in Episode.Durability.values:
        raise ValidationError("durability must be 'full' or 'fast'.", field="durability")
    return catalog_name, durability


def _new_row(
    pk: int, episode_id: str, caller: Caller, catalog_name: str, durability: str, live: bool
) -> dict[str, Any]:
    """The row fields (``_ROW_FIELDS``) of an episode just created for ``caller``."""
    return {
        "pk": pk, "episode_id": episode_id, "status": Episode.Status.OPEN, "step_count": 0,
        "owner_id": caller.user_id, "anon_key": _anon_key_of(caller), "catalog__name": catalog_name,
        "durability": durability, "live": live,
    }


def _anon_key_of(caller: Caller) -> str:
    # An episode records the anonymous key only when no user owns it.
    return caller.anon_key if caller.user_id is None else ""


def episode_reset(
    caller: Caller,
    *,
    seed: Any = None,
    episode_id: Any = None,
    task_id: Any = None,
    patient_id: Any = None,
    catalog: Any = None,
    durability: Any = None,
    live: bool = False,
) -> tuple[Observation, bool]:
    """Start an episode, or resume the caller's open episode named by ``episode_id``.

    Returns (observation, resumed). Raises ValidationError (bad argument, nothing
    written), EpisodeConflict (the named episode is finished or taken)."""
    catalog_name, durability = _reset_options(catalog, durability)
    if episode_id is not None:
        existing = Episode.objects.filter(episode_id=episode_id).values(*_ROW_FIELDS).first() if isinstance(episode_id, str) else None
        if existing is not None:
            if not _visible(caller, existing["owner_id"]):
                raise EpisodeConflict(f"episode_id {episode_id!r} is already in use.", field="episode_id")
            if existing["status"] != Episode.Status.OPEN:
                raise EpisodeConflict(
                    f"Episode {episode_id!r} has finished; reset with a new episode_id (or none) to start another.",
                    field="episode_id",
                )
            env = environment_for(existing)
            env_cache.put(existing, env)
            assert env.observation is not None
            return env.observation, True

    catalog, source_id = _catalog_with_id(catalog_name)
    env = PolypharmacyEnv(catalog)
    obs = env.reset(seed=seed, episode_id=episode_id, task_id=task_id, patient_id=patient_id)
    try:
        episode = Episode.objects.create(
            episode_id=obs.episode_id,
            catalog_id=source_id,
            catalog_fingerprint=env.catalog.fingerprint,
            task_id=obs.task_id,
            patient_id=obs.patient_id,
            owner_id=caller.user_id,
            anon_key=_anon_key_of(caller),
            durability=durability,
            live=live,
            snapshot=env.snapshot(),
            baseline_risk=obs.baseline_risk,
            current_risk=obs.current_risk,
        )
    except IntegrityError as exc:  # two resets raced for the same new episode_id
        raise EpisodeConflict(f"episode_id {obs.episode_id!r} is already in use.", field="episode_id") from exc
    env_cache.put(_new_row(episode.pk, episode.episode_id, caller, catalog_name, durability, live), env)
    return obs, False


async def episode_start_cached(
    caller: Caller,
    *,
    seed: Any = None,
    episode_id: Any = None,
    task_id: Any = None,
    patient_id: Any = None,
    catalog: Any = None,
    durability: Any = None,
) -> tuple[Observation, dict[str, Any], PolypharmacyEnv] | None:
    """A new episode on the event loop, for the WebSocket: one statement, no thread hop.

    Only for what it can decide alone: a fresh episode (no ``episode_id``), on PostgreSQL, with
    the catalog already cached in this process — and the statement itself checks that the catalog
    has not changed since. Otherwise it returns None having written nothing, and the caller takes
    ``episode_reset``. Bad arguments raise the same ValidationError as ``episode_reset``."""
    from episodes import async_store

    catalog_name, durability = _reset_options(catalog, durability)
    cached = catalog_cached(catalog_name)
    if episode_id is not None or cached is None or not async_store.uses_async_pool():
        return None
    catalog_obj, source_id, (version, updated_at) = cached
    env = PolypharmacyEnv(catalog_obj)
    obs = env.reset(seed=seed, task_id=task_id, patient_id=patient_id)
    pk = await async_store.insert_episode(
        {
            "episode_id": obs.episode_id, "catalog_id": source_id, "catalog_version": version,
            "catalog_updated_at": updated_at, "catalog_fingerprint": catalog_obj.fingerprint,
            "task_id": obs.task_id, "patient_id": obs.patient_id, "owner_id": caller.user_id,
            "anon_key": _anon_key_of(caller), "durability": durability, "live": False,
            "snapshot": json.dumps(env.snapshot()), "baseline_risk": obs.baseline_risk,
            "current_risk": obs.current_risk, "now": datetime.now(dt_timezone.utc),
        },
        fast=durability == Episode.Durability.FAST,
    )
    if pk is None:
        return None
    return obs, _new_row(pk, obs.episode_id, caller, catalog_name, durability, False), env


def episode_step(
    caller: Caller, *, action: Any, episode_id: Any = None
) -> tuple[dict[str, Any], Observation]:
    """Take one step on the caller's episode (named, or their most recent open one).

    The action is validated before anything is looked up. Returns (episode row, observation).
    With ``episode_id`` and the episode's environment cached here, a step is one round trip to
    the database: the conditional write itself checks that nobody else stepped it."""
    act = parse_action(action)
    cached = _take_steppable(caller, episode_id)
    if cached is not None:
        row, env = cached
        obs = _advance(row, env, act, caller)
        if obs is not None:
            return _stepped(row, env, obs, act, caller)
    for _attempt in range(MAX_CONFLICT_RETRIES):
        row = _episode_row(caller, episode_id, open_only=True)
        if row is None:
            raise EpisodeNotFound(
                "No open episode for this caller: reset first, or pass episode_id.", field="episode_id"
            )
        if row["status"] != Episode.Status.OPEN:
            raise EpisodeConflict(f"Episode {row['episode_id']!r} has finished; reset to start another.")
        env = environment_for(row)
        obs = _advance(row, env, act, caller)
        if obs is not None:
            return _stepped(row, env, obs, act, caller)
        episode_id = row["episode_id"]  # lost a race: re-read the row and try again
    raise EpisodeConflict("The episode is being stepped concurrently; retry.")


def _take_steppable(caller: Caller, episode_id: Any) -> tuple[dict[str, Any], PolypharmacyEnv] | None:
    """The cached (row, environment) of ``episode_id`` when this caller may step it now; an entry
    that is someone else's or finished is left in the cache for the full path to judge."""
    if not isinstance(episode_id, str):
        return None
    cached = env_cache.take(episode_id)
    if cached is None:
        return None
    row, env = cached
    if _visible(caller, row["owner_id"]) and row["status"] == Episode.Status.OPEN and not env.done:
        return cached
    env_cache.put(row, env)
    return None


def _advance(row: Mapping[str, Any], env: PolypharmacyEnv, act: Action, caller: Caller) -> Observation | None:
    """Step the environment and write the step. None when another writer got there first
    (nothing written; the environment is then stale and must be discarded)."""
    try:
        obs, values = store.step_env(row, env, act, caller)
    except EpisodeFinishedError as exc:
        raise EpisodeConflict(exc.message) from exc
    written = store.write_step(values, fast=row["durability"] == Episode.Durability.FAST)
    return obs if written else None


def _cache_stepped(row: Mapping[str, Any], env: PolypharmacyEnv, obs: Observation) -> dict[str, Any]:
    """The row as the committed step left it, cached with its environment."""
    row = {**row, "step_count": obs.step_index, "status": store.episode_status(obs)}
    env_cache.put(row, env)
    return row


def _live_message(row: Mapping[str, Any], obs: Observation, act: Action, caller: Caller) -> dict[str, Any]:
    return live.step_message(row["episode_id"], obs.step_index, caller.label, act.to_dict(), wire_payload(obs))


async def publish_live_step(row: Mapping[str, Any], obs: Observation, act: Action, caller: Caller) -> None:
    """Tell the episode's watchers about a committed step, from the event loop (live episodes only)."""
    if row["live"]:
        await live.publish_step_async(_live_message(row, obs, act, caller))


def _stepped(
    row: Mapping[str, Any], env: PolypharmacyEnv, obs: Observation, act: Action, caller: Caller
) -> tuple[dict[str, Any], Observation]:
    """After a committed step: cache the environment at its new step, tell live watchers."""
    row = _cache_stepped(row, env, obs)
    if row["live"]:
        message = _live_message(row, obs, act, caller)
        # After commit: a caller's enclosing transaction (the review pages') must land first,
        # so a watcher never sees a step that could still roll back. Outside one, at once.
        transaction.on_commit(lambda: live.publish_step(message))
    return row, obs


def episode_take(caller: Caller, episode_id: str) -> tuple[dict[str, Any], PolypharmacyEnv]:
    """The row and environment of a visible episode, for a session that keeps them (the
    WebSocket): from the cache when this process has them (no query), else from the database."""
    entry = env_cache.take(episode_id)
    if entry is not None and _visible(caller, entry[0]["owner_id"]):
        return entry
    if entry is not None:
        env_cache.put(*entry)
    row = episode_handle(caller, episode_id)
    return row, environment_for(row)


def episode_handle(caller: Caller, episode_id: str) -> dict[str, Any]:
    """The row fields a long-lived session (the WebSocket) keeps for a visible episode."""
    row = _episode_row(caller, episode_id, open_only=False)
    assert row is not None
    return row


def episode_state(caller: Caller, *, episode_id: Any = None) -> dict[str, Any]:
    """The episode's state (OpenEnv ``State``); ``{"episode_id": None, "step_count": 0}`` when the
    caller has no episode, as OpenEnv's own server answers."""
    row = _episode_row(caller, episode_id, open_only=False)
    if row is None:
        return {"episode_id": None, "step_count": 0}
    env = environment_for(row)
    env_cache.put(row, env)
    return env.state.to_dict()


def episode_observation(caller: Caller, *, episode_id: str) -> Observation:
    """The latest observation of a visible episode."""
    row = _episode_row(caller, episode_id, open_only=False)
    assert row is not None
    env = environment_for(row)
    env_cache.put(row, env)
    assert env.observation is not None
    return env.observation


def wire_payload(obs: Observation, *, reset: bool = False) -> dict[str, Any]:
    """The OpenEnv reset/step body: exactly ``observation``, ``reward`` and ``done``."""
    return {
        "observation": obs.to_dict(),
        "reward": None if reset else obs.shaped_reward,
        "done": obs.done,
    }


async def episode_step_cached(caller: Caller, *, action: Any, episode_id: str) -> tuple[dict[str, Any], Observation] | None:
    """The step fast path, on the event loop: the episode's environment is cached in this
    process and the write is one statement over the async pool (``async_store``).

    Returns None — having written nothing — whenever the fast path cannot decide alone (not
    cached, someone else's or finished, a malformed action, or another writer got there
    first); the caller then takes the full path (``episode_step``), which answers every case
    with the one set of rules."""
    from episodes import async_store

    try:
        act = parse_action(action)
    except ValidationError:
        return None
    cached = _take_steppable(caller, episode_id)
    if cached is None:
        return None
    row, env = cached
    obs, values = store.step_env(row, env, act, caller)
    if not await async_store.write_step(values, fast=row["durability"] == Episode.Durability.FAST):
        return None  # stale: the environment is dropped, the full path restores from the database
    row = _cache_stepped(row, env, obs)
    await publish_live_step(row, obs, act, caller)
    return row, obs
