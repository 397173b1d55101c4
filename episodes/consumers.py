"""The OpenEnv WebSocket endpoint ``/ws``: one session per connection, many at once.

A connection holds its episode's session (row and environment) and takes every step through
``episodes.steps.episode_step_async``: the step is applied to a fork, written from the event loop,
and only then becomes the connection's session, so a failed write leaves the session at its last
stored step. Frames are parsed strictly and validated by the contract's frame models; every
error is an error frame and the session goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast
from urllib.parse import parse_qs

from asgiref.typing import WebSocketReceiveEvent
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from pydantic_core import to_json

from envcore.contract import ResetRequest, frame_json_error, parse_frame
from envcore.errors import EnvError, PayloadTooLarge, ValidationError
from envcore.strict_json import strict_loads
from episodes import mcp
from episodes.errors import as_domain_error, ws_error
from episodes.selectors import session_get
from episodes.services import episode_reset, episode_start_async, episode_state, wire_body
from episodes.sessions import Caller, EpisodeNotFound, Session
from episodes.steps import episode_step_async
from episodes.tool_sessions import ToolSessionNotFound, tool_session_attach, tool_session_episode

log = logging.getLogger(__name__)
MAX_FRAME_BYTES = 1024 * 1024
# Close codes: 4000 + the HTTP status that means the same (1xxx codes other than 1000 are the
# protocol's own).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_IDLE = 4408
CLOSE_AT_CAPACITY = 4503
NO_CHANNEL_LAYER = "none"  # /ws joins no group: no channel (and no Redis listener) per connection


class _Capacity:
    """Open sessions in this process, against POLYPHARMACY_WS_MAX_SESSIONS."""

    def __init__(self) -> None:
        self.open = 0

    def acquire(self) -> bool:
        if self.open >= settings.POLYPHARMACY_WS_MAX_SESSIONS:
            return False
        self.open += 1
        return True

    def release(self) -> None:
        self.open = max(0, self.open - 1)


capacity = _Capacity()


class EnvConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = NO_CHANNEL_LAYER

    async def connect(self) -> None:
        self.holds_slot = False
        self.session: Session | None = None
        self.last_activity = time.monotonic()
        self.idle_task: asyncio.Task | None = None
        await self.accept()
        if not capacity.acquire():
            await self._send({"type": "error", "data": {
                "message": f"Server at capacity ({settings.POLYPHARMACY_WS_MAX_SESSIONS} sessions); retry later.",
                "code": "CAPACITY_REACHED",
            }})
            await self.close(code=CLOSE_AT_CAPACITY)
            return
        self.holds_slot = True
        user = self.scope.get("user")
        if settings.POLYPHARMACY_API_AUTH == "required" and not (user and user.is_authenticated):
            await self._send({"type": "error", "data": {
                "message": "Authentication required: pass ?token=<key> or log in.", "code": "SESSION_ERROR"}})
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.caller = Caller.for_user(user, channel="ws")
        # OpenEnv's MCP session attach: this connection resets (and reads) the episode that the
        # session's tool calls act on.
        self.tool_session_id: str | None = None
        self.session_episode_id: str | None = None
        requested = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("session_id")
        if requested:
            try:
                self.session_episode_id = await database_sync_to_async(tool_session_episode)(self.caller, requested[0])
            except ToolSessionNotFound as exc:
                await self._send(ws_error(exc))
                await self.close(code=CLOSE_NOT_FOUND)
                return
            self.tool_session_id = requested[0]
        self.idle_task = asyncio.ensure_future(self._close_when_idle())

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale Django connections before every message, which is a thread hop
        # per frame. Frames here touch Django's connections only inside database_sync_to_async,
        # which does that clean-up itself, so received frames skip it (DESIGN §5: "avoid a
        # thread hop per message in the consumer").
        if message["type"] == "websocket.receive":
            await self.websocket_receive(cast(WebSocketReceiveEvent, message))  # its type says so
        else:
            await super().dispatch(message)

    async def disconnect(self, code: int) -> None:
        if self.holds_slot:
            capacity.release()
            self.holds_slot = False
        if self.idle_task is not None:
            self.idle_task.cancel()

    async def _close_when_idle(self) -> None:
        # Idle sessions are closed to free their slot; their episodes stay in the database and
        # a new connection resumes them by resetting with their episode_id.
        timeout = settings.POLYPHARMACY_WS_IDLE_TIMEOUT
        while True:
            await asyncio.sleep(max(timeout - (time.monotonic() - self.last_activity), 0.05))
            if time.monotonic() - self.last_activity >= timeout:
                await self.close(code=CLOSE_IDLE)
                return

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=to_json(frame).decode())

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.last_activity = time.monotonic()
        raw = text_data if text_data is not None else bytes_data or b""
        try:
            if len(raw) > MAX_FRAME_BYTES:
                raise PayloadTooLarge(f"Frame larger than {MAX_FRAME_BYTES:,} bytes (1 MB); send less.")
            try:
                value = strict_loads(raw, what="frame")
            except ValidationError as exc:
                raise frame_json_error(exc, raw) from None
            frame = parse_frame(value)
            if frame.type == "close":
                await self.close()
                return
            await getattr(self, f"_on_{frame.type}")(frame.data)
        except Exception as exc:  # the session survives anything a frame can cause
            domain = as_domain_error(exc)
            if domain is None:
                log.exception("WebSocket frame failed")
                domain = EnvError("The server failed to handle this frame; the session goes on.")
            await self._send(ws_error(domain))

    # ── handlers ───────────────────────────────────────────────────────────
    async def _on_reset(self, request: ResetRequest | None) -> None:
        request = request or ResetRequest()
        session = await episode_start_async(self.caller, request)
        if session is None:
            session, _resumed = await database_sync_to_async(episode_reset)(self.caller, request)
        self.session = session
        if self.tool_session_id is not None:
            await database_sync_to_async(tool_session_attach)(self.caller, self.tool_session_id, session.row.episode_id)
            self.session_episode_id = session.row.episode_id
        assert session.env.observation is not None
        await self._send_body(wire_body(session.env.observation, reset=True))

    async def _current(self) -> Session | None:
        """The connection's session; on a connection attached to an MCP session whose episode an
        earlier connection reset, that episode."""
        if self.session is None and self.session_episode_id is not None:
            self.session = await database_sync_to_async(session_get)(self.caller, self.session_episode_id)
        return self.session

    async def _on_step(self, action: Any) -> None:
        if await self._current() is None:
            raise EpisodeNotFound("No episode in this session: send a reset first.")
        assert self.session is not None
        result = await episode_step_async(self.caller, self.session, action, cache=False)
        self.session = result.session
        await self._send_body(wire_body(result.observation, encoded=result.observation_json))

    async def _send_body(self, body: bytes) -> None:
        await self.send(text_data='{"type":"observation","data":' + body.decode() + "}")

    async def _on_state(self, _data: Any) -> None:
        # From the database, not the session's environment: an HTTP client may have stepped it.
        episode_id = self.session.row.episode_id if self.session else self.session_episode_id
        if episode_id is None:
            state: dict[str, Any] = {"episode_id": None, "step_count": 0}
        else:
            state = await database_sync_to_async(episode_state)(self.caller, episode_id=episode_id)
        await self._send({"type": "state", "data": state})

    async def _on_mcp(self, message: dict[str, Any]) -> None:
        # Tool calls in frames act on this connection's episode unless they name another.
        episode_id = self.session.row.episode_id if self.session else self.session_episode_id
        context = mcp.McpContext(self.caller, episode_id=episode_id)
        answer = await database_sync_to_async(mcp.handle_message)(message, context)
        await self._send({"type": "mcp", "data": answer or {}})
