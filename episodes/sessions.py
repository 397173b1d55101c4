"""Who acts (``Caller``), an episode as a process holds it (``Session``: its row fields and its
environment at that row's step) and the process's cache of recently used sessions.

A cached session is a guess, never trusted blindly: a step writes only ``WHERE step_count =
<the session's>``, so when another process stepped the episode meanwhile the write is refused and
the step is redone from the stored snapshot. Sessions are taken out of the cache while in use and
put back only once their step is stored, so a failed write can never leave a half-stepped
environment behind.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from envcore.env import PolypharmacyEnv
from envcore.errors import ConflictError, NotFoundError, UnavailableError


class EpisodeNotFound(NotFoundError):
    """No such episode for this caller (unknown, or someone else's: the same answer, 404)."""


class EpisodeConflict(ConflictError):
    """The episode cannot take this request now (finished, or contended beyond retries): 409."""


class StepNotStored(UnavailableError):
    """The database failed and the step is not stored: nothing changed, the client may retry."""


@dataclass(frozen=True)
class Caller:
    """Who is acting: a user, or an anonymous client identified by its session key."""

    user_id: int | None = None
    anon_key: str = ""
    label: str = "anonymous"
    channel: str = ""  # the way in: "api", "ws", "mcp", "review"

    @classmethod
    def for_user(cls, user: Any, *, channel: str, anon_key: str = "") -> "Caller":
        if user is not None and getattr(user, "is_authenticated", False):
            return cls(user_id=user.pk, label=f"{channel}:{user.get_username()}", channel=channel)
        return cls(anon_key=anon_key, label="anonymous", channel=channel)


@dataclass(frozen=True)
class EpisodeRow:
    """The Episode columns a step needs, as last read or written by this process."""

    pk: int
    episode_id: str
    status: str
    step_count: int
    owner_id: int | None
    anon_key: str
    catalog: str
    durability: str
    live: bool
    steps_via: str = ""

    # The Episode fields (ORM names) these are read from, in order.
    FIELDS = ("pk", "episode_id", "status", "step_count", "owner_id", "anon_key", "catalog__name", "durability", "live",
              "steps_via")

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> "EpisodeRow":
        return cls(**{("catalog" if k == "catalog__name" else k): v for k, v in values.items()})

    def visible_to(self, caller: Caller) -> bool:
        # An episode with an owner is that user's alone; an anonymous episode is addressed by
        # its unguessable id, so whoever knows the id may drive it (DESIGN §2, local use).
        return self.owner_id is None or self.owner_id == caller.user_id

    def steppable_by(self, caller: Caller) -> bool:
        return not self.steps_via or caller.channel == self.steps_via

    def after(self, step_count: int, status: str) -> "EpisodeRow":
        return replace(self, step_count=step_count, status=status)


@dataclass(frozen=True)
class Session:
    """An episode's row and its environment at exactly ``row.step_count``."""

    row: EpisodeRow
    env: PolypharmacyEnv

    @property
    def steppable(self) -> bool:
        return self.row.status == "open" and not self.env.done


class SessionCache:
    """Recently used sessions by episode id (least recently used dropped beyond ``size``)."""

    def __init__(self, size: int = 2048) -> None:
        self._entries: OrderedDict[str, Session] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def take(self, episode_id: str) -> Session | None:
        with self._lock:
            return self._entries.pop(episode_id, None)

    def put(self, session: Session) -> None:
        with self._lock:
            key = session.row.episode_id
            self._entries[key] = session
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


env_cache = SessionCache()
