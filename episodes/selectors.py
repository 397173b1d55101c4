"""Reads of episodes: a caller's episode row, and its session (cached in this process, or
restored from the stored snapshot)."""

from __future__ import annotations

from typing import Any

from catalog.selectors import CatalogNotLoaded, catalog_get_with_id
from envcore.env import PolypharmacyEnv
from envcore.errors import SnapshotError, UnavailableError
from episodes.models import Episode, Step
from episodes.sessions import Caller, EpisodeConflict, EpisodeNotFound, EpisodeRow, Session, env_cache


def catalog_with_id(name: str) -> tuple[Any, int]:
    """The catalog and its source pk; UnavailableError (503) while it is not loaded."""
    try:
        return catalog_get_with_id(name)
    except CatalogNotLoaded as exc:
        raise UnavailableError(str(exc)) from exc


def episode_row(caller: Caller, episode_id: str | None, *, open_only: bool) -> EpisodeRow | None:
    """The named episode if the caller may see it (else EpisodeNotFound), or with no name the
    caller's most recently started one (None when there is none)."""
    if episode_id is not None:
        values = Episode.objects.filter(episode_id=episode_id).values(*EpisodeRow.FIELDS).first()
        row = EpisodeRow.from_values(values) if values else None
        if row is None or not row.visible_to(caller):
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
    values = mine.order_by("-created_at", "-pk").values(*EpisodeRow.FIELDS).first()
    return EpisodeRow.from_values(values) if values else None


def stored_snapshot(episode_pk: int) -> dict[str, Any] | None:
    """The episode's snapshot after its latest step: that Step row's, or (no step yet, or a step
    stored before steps carried one) the Episode row's."""
    latest = Step.objects.filter(episode_id=episode_pk).order_by("-index").values_list("snapshot", flat=True)[:1]
    for snapshot in latest:
        if snapshot is not None:
            return snapshot
    return Episode.objects.filter(pk=episode_pk).values_list("snapshot", flat=True).first()


def episode_env(catalog_name: str, snapshot: dict[str, Any], episode_id: str) -> PolypharmacyEnv:
    """An environment continuing a stored snapshot, on the catalog as the database holds it now."""
    env = PolypharmacyEnv(catalog_with_id(catalog_name)[0])
    try:
        # Not strict: a curator's edit since the reset must not strand the episode; it
        # continues on the catalog as it is now (its baseline risk stays the stored one).
        env.restore(snapshot, strict=False)
    except SnapshotError as exc:
        raise EpisodeConflict(f"Episode {episode_id!r} cannot be resumed: {exc.message}") from exc
    return env


def session_restore(row: EpisodeRow) -> Session:
    """The row's episode restored from its stored snapshot."""
    snapshot = stored_snapshot(row.pk)
    if snapshot is None:
        raise EpisodeNotFound(f"No episode {row.episode_id!r}.", field="episode_id")
    return Session(row, episode_env(row.catalog, snapshot, row.episode_id))


def session_at(row: EpisodeRow) -> Session:
    """The row's session: the cached one if it is at the row's step, else restored."""
    cached = env_cache.take(row.episode_id)
    if cached is not None and cached.row.step_count == row.step_count:
        return Session(row, cached.env)
    return session_restore(row)


def session_get(caller: Caller, episode_id: str | None, *, open_only: bool = False) -> Session | None:
    """The caller's episode (named, or most recent) as a session, left in the cache."""
    row = episode_row(caller, episode_id, open_only=open_only)
    if row is None:
        return None
    session = session_at(row)
    env_cache.put(session)
    return session


def session_for_step(caller: Caller, episode_id: str | None) -> Session:
    """The session a step should start from, taken out of the cache: with ``episode_id`` and a
    cached, steppable session of this caller, no query at all (the conditional write checks it
    is current); otherwise from the database."""
    if episode_id is not None:
        cached = env_cache.take(episode_id)
        if cached is not None:
            if cached.row.visible_to(caller) and cached.steppable:
                return cached
            env_cache.put(cached)  # someone else's, or finished: the database decides
    row = episode_row(caller, episode_id, open_only=True)
    if row is None:
        raise EpisodeNotFound("No open episode for this caller: reset first, or pass episode_id.", field="episode_id")
    if row.status != Episode.Status.OPEN:
        raise EpisodeConflict(f"Episode {row.episode_id!r} has finished; reset to start another.")
    return session_at(row)
