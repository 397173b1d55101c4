"""The edge: the ASGI application in front of Django (HTTP) and Channels (WebSocket).

What no request should get past, decided before any authentication or view:
- a body larger than ``MAX_BODY_BYTES``, declared (Content-Length) or not (chunked), is
  answered 413 as soon as it is known, and reading stops there: a 1 GB upload costs a
  megabyte of memory and no disk (the connection is closed after the answer);
- a NUL character in a query parameter (PostgreSQL stores none) is a 422 naming it;
- the HTTP fast path (``episodes.fastpath``) answers the requests it can on the event loop.

Everything else goes on to Django with the body already read. The lifespan protocol closes the
async database pools at shutdown.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

from pydantic_core import to_json

from episodes.errors import MAX_BODY_BYTES, TOO_LARGE_MESSAGE

log = logging.getLogger(__name__)
# Any ASGI application (scope, receive, send): Django's handler and Channels' router are typed with
# scopes of their own, so the three stay Any here.
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
FastHandler = Callable[[dict[str, Any], bytes, Any], Awaitable[bool]]


async def respond_json(send: Any, status: int, body: Any, *, close: bool = False) -> None:
    data = to_json(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _nul_parameter(query_string: bytes) -> str | None:
    """The first query parameter whose name or value holds a NUL, or None."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "\\u0000") or "(unnamed)"
    return None


def _declared_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class Edge:
    def __init__(self, http: ASGIApp, websocket: ASGIApp, fast: dict[tuple[str, str], FastHandler],
                 on_shutdown: Callable[[], Awaitable[None]] | None = None) -> None:
        self.http, self.websocket, self.fast, self.on_shutdown = http, websocket, fast, on_shutdown

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self.websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        name = _nul_parameter(scope.get("query_string", b""))
        if name is not None:
            message = f"{name}: a NUL character (\\u0000) is not allowed in a query parameter."
            await respond_json(send, 422, {"detail": [{"type": "string_nul", "loc": ["query", name], "msg": message,
                                                       "input": None}]})
            return
        declared = _declared_length(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            await respond_json(send, 413, {"detail": TOO_LARGE_MESSAGE}, close=True)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await respond_json(send, 413, {"detail": TOO_LARGE_MESSAGE}, close=True)
                return
            if not message.get("more_body", False):
                break
        raw = bytes(body)
        handler = self.fast.get((scope["method"], scope["path"]))
        if handler is not None:
            try:
                if await handler(scope, raw, send):
                    return
            except Exception:
                log.exception("fast path failed on %s %s", scope["method"], scope["path"])
                await respond_json(send, 500, {"detail": "Internal server error; nothing was changed."})
                return
        await self.http(scope, _replay(raw, receive), _with_length(send))

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown is not None:
                    await self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _with_length(send: Any) -> Any:
    """A ``send`` that gives a response sent in one piece a Content-Length (Django's ASGI handler
    sends none, and the server would fall back to chunked encoding)."""
    held: dict[str, Any] | None = None

    async def sending(message: dict[str, Any]) -> None:
        nonlocal held
        if message["type"] == "http.response.start":
            held = message
            return
        if held is not None:
            start, held = held, None
            headers = start.get("headers") or []
            if not message.get("more_body", False) and not any(name.lower() == b"content-length" for name, _ in headers):
                start = {**start, "headers": [*headers, (b"content-length", str(len(message.get("body", b""))).encode())]}
            await send(start)
        await send(message)

    return sending


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that gives the body already read, then the client's own messages (its
    disconnect)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
