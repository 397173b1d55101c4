"""Episode services: the one path by which REST, WebSocket, MCP and the review pages start,
step and read episodes (DESIGN §5).

A step is: find the caller's episode, get its environment (an in-process cache validated by the
episode's step count, else a restore from the stored snapshot), step it, then write the Step row
and the new snapshot in one atomic statement that only succeeds if nobody stepped the episode in
between (``WHERE step_count = <what we restored>``). A conflict restores from the database and
tries again, so concurrent steps serialize and none is lost or duplicated.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

from django.conf import settings
from django.db import IntegrityError

from catalog.models import CatalogSource
from catalog.selectors import DEFAULT_CATALOG, CatalogNotLoaded, catalog_get
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
    """Recently used environments by episode pk, each with the step count it is at.

    An entry is only trusted when its step count equals the database's, so a step taken by
    another process simply makes the entry stale (it is then restored from the snapshot).
    Entries are taken out while in use, so a failed write can never leave a half-stepped env."""

    def __init__(self, size: int = 2048) -> None:
        self._envs: OrderedDict[int, tuple[int, PolypharmacyEnv]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def take(self, pk: int, step_count: int) -> PolypharmacyEnv | None:
        with self._lock:
            entry = self._envs.pop(pk, None)
        if entry is not None and entry[0] == step_count:
            return entry[1]
        return None

    def put(self, pk: int, step_count: int, env: PolypharmacyEnv) -> None:
        with self._lock:
            self._envs[pk] = (step_count, env)
            self._envs.move_to_end(pk)
            while len(self._envs) > self._size:
                self._envs.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._envs.clear()


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
    try:
        return catalog_get(name)
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
    """The episode's environment at its stored step (cached or restored); the caller owns it
    until it calls ``env_cache.put`` again."""
    return env_cache.take(row["pk"], row["step_count"]) or _restore(row)


# ── services ───────────────────────────────────────────────────────────────
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
    catalog_name = DEFAULT_CATALOG if catalog is None else catalog
    if catalog_name not in CATALOG_NAMES:
        raise ValidationError(f"catalog must be one of {', '.join(CATALOG_NAMES)}.", field="catalog")
    if durability is None:
        durability = settings.POLYPHARMACY_API_DURABILITY
    if durability not in Episode.Durability.values:
        raise ValidationError("durability must be 'full' or 'fast'.", field="durability")
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
            env_cache.put(existing["pk"], existing["step_count"], env)
            assert env.observation is not None
            return env.observation, True

    env = PolypharmacyEnv(_catalog(catalog_name))
    obs = env.reset(seed=seed, episode_id=episode_id, task_id=task_id, patient_id=patient_id)
    source_id = CatalogSource.objects.filter(name=catalog_name).values_list("pk", flat=True).get()
    try:
        episode = Episode.objects.create(
            episode_id=obs.episode_id,
            catalog_id=source_id,
            catalog_fingerprint=env.catalog.fingerprint,
            task_id=obs.task_id,
            patient_id=obs.patient_id,
            owner_id=caller.user_id,
            anon_key=caller.anon_key if caller.user_id is None else "",
            durability=durability,
            live=live,
            snapshot=env.snapshot(),
            baseline_risk=obs.baseline_risk,
            current_risk=obs.current_risk,
        )
    except IntegrityError as exc:  # two resets raced for the same new episode_id
        raise EpisodeConflict(f"episode_id {obs.episode_id!r} is already in use.", field="episode_id") from exc
    env_cache.put(episode.pk, 0, env)
    return obs, False


def episode_step(
    caller: Caller, *, action: Any, episode_id: Any = None
) -> tuple[dict[str, Any], Observation]:
    """Take one step on the caller's episode (named, or their most recent open one).

    The action is validated before anything is looked up. Returns (episode row, observation)."""
    act = parse_action(action)
    for _attempt in range(MAX_CONFLICT_RETRIES):
        row = _episode_row(caller, episode_id, open_only=True)
        if row is None:
            raise EpisodeNotFound(
                "No open episode for this caller: reset first, or pass episode_id.", field="episode_id"
            )
        if row["status"] != Episode.Status.OPEN:
            raise EpisodeConflict(f"Episode {row['episode_id']!r} has finished; reset to start another.")
        obs, env = advance(row, act, caller)
        if obs is not None:
            env_cache.put(row["pk"], row["step_count"] + 1, env)
            if row["live"]:
                live.publish_step(live.step_message(row["episode_id"], obs.step_index, caller.label, act.to_dict(), wire_payload(obs)))
            return row, obs
        episode_id = row["episode_id"]  # lost a race: re-read the row and try again
    raise EpisodeConflict("The episode is being stepped concurrently; retry.")


def advance(row: Mapping[str, Any], act: Action, caller: Caller) -> tuple[Observation | None, PolypharmacyEnv]:
    """Step the episode's environment and write the step. Returns (None, env) when another
    writer got there first (nothing written; the env must then be discarded)."""
    env = environment_for(row)
    started = time.perf_counter()
    try:
        obs = env.step(act)
    except EpisodeFinishedError as exc:
        raise EpisodeConflict(exc.message) from exc
    written = store.write_step(
        store.step_values(row, env, obs, act, caller, (time.perf_counter() - started) * 1000.0),
        fast=row["durability"] == Episode.Durability.FAST,
    )
    return (obs if written else None), env


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
    env_cache.put(row["pk"], row["step_count"], env)
    return env.state.to_dict()


def episode_observation(caller: Caller, *, episode_id: str) -> Observation:
    """The latest observation of a visible episode."""
    row = _episode_row(caller, episode_id, open_only=False)
    assert row is not None
    env = environment_for(row)
    env_cache.put(row["pk"], row["step_count"], env)
    assert env.observation is not None
    return env.observation


def wire_payload(obs: Observation, *, reset: bool = False) -> dict[str, Any]:
    """The OpenEnv reset/step body: exactly ``observation``, ``reward`` and ``done``."""
    return {
        "observation": obs.to_dict(),
        "reward": None if reset else obs.shaped_reward,
        "done": obs.done,
    }
