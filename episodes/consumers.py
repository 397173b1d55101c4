"""The OpenEnv WebSocket endpoint ``/ws``: one session per connection, many at once.

The consumer keeps its episode's environment in memory and writes each step with one
statement from the event loop (``async_store``); if another writer (an HTTP client, another
connection) stepped the episode meanwhile, the write is refused and the step is redone through
the services from the stored snapshot. Every error is an error frame and the session goes on.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from envcore.actions import parse_action
from envcore.errors import EnvError, ValidationError
from envcore.observation import Observation
from episodes import async_store, mcp, services, store
from episodes.errors import ws_error
from episodes.requests import parse_reset, reject_nul

FRAME_KEYS = {"type", "data"}
# Close codes: 4000 + the HTTP status that means the same. Not 1013/1001: daphne (autobahn) sends
# only 1000 and 3000-4999, and any other code fails the close itself (the client saw 1011, or an
# idle session was never closed).
CLOSE_UNAUTHORIZED = 4401
CLOSE_IDLE = 4408
CLOSE_AT_CAPACITY = 4503


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
    async def connect(self) -> None:
        self.holds_slot = False
        self.env = None
        self.row: dict[str, Any] | None = None
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
        self.caller = services.Caller.for_user(user, channel="ws")
        self.idle_task = asyncio.ensure_future(self._close_when_idle())

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale Django connections before every message, which is a thread hop
        # per frame. Frames here touch Django's connections only inside database_sync_to_async,
        # which does that clean-up itself, so received frames skip it (DESIGN §5: "avoid a
        # thread hop per message in the consumer").
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
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
        await self.send(text_data=json.dumps(frame))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.last_activity = time.monotonic()
        try:
            frame = json.loads(text_data if text_data is not None else bytes_data or b"")
        except (ValueError, UnicodeDecodeError) as exc:
            await self._send({"type": "error", "data": {"message": f"Invalid JSON: {exc}", "code": "INVALID_JSON"}})
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._send(ws_error(ValidationError("A frame is an object with a string 'type'.", field="type")))
            return
        extra = set(frame) - FRAME_KEYS
        if extra:
            await self._send(ws_error(ValidationError(f"Unknown frame key(s) {sorted(extra)}.", field=sorted(extra)[0])))
            return
        kind, data = frame["type"], frame.get("data")
        handler = {"reset": self._reset, "step": self._step, "state": self._state, "mcp": self._mcp}.get(kind)
        if kind == "close":
            await self.close()
            return
        if handler is None:
            await self._send({"type": "error", "data": {
                "message": f"Unknown message type {kind!r}; expected reset, step, state, mcp or close.",
                "code": "UNKNOWN_TYPE"}})
            return
        try:
            await handler({} if data is None else data)
        except EnvError as exc:
            await self._send(ws_error(exc))
        except Exception as exc:  # the session survives anything a message can cause
            await self._send({"type": "error", "data": {"message": f"{type(exc).__name__}: {exc}", "code": "EXECUTION_ERROR"}})

    # ── handlers ───────────────────────────────────────────────────────────
    def _observation_frame(self, obs: Observation, *, reset: bool = False) -> dict[str, Any]:
        return {"type": "observation", "data": services.wire_payload(obs, reset=reset)}

    async def _reset(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise ValidationError("reset data must be an object.", field="data")
        kwargs = parse_reset(data)
        started = await services.episode_start_cached(self.caller, **kwargs)
        if started is None:
            started = await database_sync_to_async(self._reset_sync)(kwargs)
        obs, self.row, self.env = started
        await self._send(self._observation_frame(obs, reset=True))

    def _reset_sync(self, kwargs: dict[str, Any]):
        obs, _resumed = services.episode_reset(self.caller, **kwargs)
        return (obs, *services.episode_take(self.caller, obs.episode_id))

    async def _step(self, data: Any) -> None:
        reject_nul(data, "action")
        act = parse_action(data)
        if self.row is None or self.env is None:
            raise services.EpisodeNotFound("No episode in this session: send a reset first.")
        if self.env.done:
            raise services.EpisodeConflict(f"Episode {self.row['episode_id']!r} has finished; reset to start another.")
        obs, values = store.step_env(self.row, self.env, act, self.caller)
        written = await async_store.write_step(values, fast=self.row["durability"] == "fast")
        if written:
            self.row["step_count"] = obs.step_index
            await services.publish_live_step(self.row, obs, act, self.caller)
            # The observation was encoded once, for the Step row; the reply reuses it.
            await self.send(text_data=(
                f'{{"type": "observation", "data": {{"observation": {values["observation"]}, '
                f'"reward": {json.dumps(obs.shaped_reward)}, "done": {json.dumps(obs.done)}}}}}'
            ))
            return
        # Someone else stepped this episode: redo the step on the stored state (the services
        # publish it when the episode is live).
        self.env = None
        obs, self.row, self.env = await database_sync_to_async(self._step_sync)(act)
        await self._send(self._observation_frame(obs))

    def _step_sync(self, act):
        assert self.row is not None
        _row, obs = services.episode_step(self.caller, action=act, episode_id=self.row["episode_id"])
        return (obs, *services.episode_take(self.caller, self.row["episode_id"]))

    async def _state(self, data: Any) -> None:
        # From the database, not the session's env: an HTTP client may have stepped it since.
        episode_id = self.row["episode_id"] if self.row else None
        if episode_id is None:
            state = {"episode_id": None, "step_count": 0}
        else:
            state = await database_sync_to_async(services.episode_state)(self.caller, episode_id=episode_id)
        await self._send({"type": "state", "data": state})

    async def _mcp(self, data: Any) -> None:
        answer = await database_sync_to_async(mcp.handle_message)(data, self.caller)
        await self._send({"type": "mcp", "data": answer or {}})
