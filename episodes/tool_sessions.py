"""MCP sessions (OpenEnv 0.10's ``openenv/session/create`` and ``close``): which episode the tool
calls that name a session act on.

A session belongs to its creator (a user, or nobody for anonymous use, where its unguessable id is
the key, as an episode id is). Unknown, closed and other users' sessions get the same answer.
Closing a session leaves its episode stored (any client can still resume it by its id).
"""

from __future__ import annotations

import secrets

from django.utils import timezone

from envcore.errors import NotFoundError
from episodes.models import Episode, ToolSession
from episodes.sessions import Caller


class ToolSessionNotFound(NotFoundError):
    """No open session of that id for this caller."""


def tool_session_create(caller: Caller) -> str:
    session_id = secrets.token_hex(16)
    ToolSession.objects.create(session_id=session_id, owner_id=caller.user_id)
    return session_id


def _open_session(caller: Caller, session_id: str) -> ToolSession:
    session = (ToolSession.objects.filter(session_id=session_id, closed_at__isnull=True)
               .select_related("episode").only("pk", "owner_id", "episode__episode_id").first())
    if session is None or (session.owner_id is not None and session.owner_id != caller.user_id):
        raise ToolSessionNotFound(f"Unknown session_id: {session_id}", field="session_id")
    return session


def tool_session_episode(caller: Caller, session_id: str) -> str | None:
    """The episode id the session's tool calls act on (None before its first reset)."""
    session = _open_session(caller, session_id)
    return session.episode.episode_id if session.episode is not None else None


def tool_session_attach(caller: Caller, session_id: str, episode_id: str) -> None:
    """The session's episode is now ``episode_id`` (a reset on a WebSocket attached to it)."""
    session = _open_session(caller, session_id)
    ToolSession.objects.filter(pk=session.pk).update(
        episode_id=Episode.objects.filter(episode_id=episode_id).values("pk")[:1])


def tool_session_close(caller: Caller, session_id: str) -> None:
    session = _open_session(caller, session_id)
    ToolSession.objects.filter(pk=session.pk).update(closed_at=timezone.now())
