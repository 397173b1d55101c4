"""One error shape per transport (STYLE §5), for every domain error (``envcore.errors``).

- HTTP: ``error_body`` — OpenEnv's (FastAPI's) 422 ``{"detail": [{"type", "loc", "msg",
  "input"}]}`` for validation, ``{"detail": "..."}`` with the error's own status otherwise;
  DRF's exception handler (``polypharmacy_site.errors``, at site level) uses it, so views
  just raise.
- WebSocket: ``ws_error`` — ``{"type": "error", "data": {"message", "code", "field"?, "errors"?}}``.
- MCP: ``mcp_tool_error`` — a tool result with ``isError: true`` (MCP's convention).

The pages show ``exc.message`` at the field. This module imports nothing but the errors, so
any app can use it.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import psycopg
from django.db import InterfaceError, OperationalError

from envcore.errors import EnvError, PayloadTooLarge, UnavailableError, ValidationError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE_MESSAGE = f"Request body larger than {MAX_BODY_BYTES:,} bytes (1 MB); send less, or gzip it."
AUTH_REQUIRED_MESSAGE = "Authentication required: send 'Authorization: Token <key>' or log in."


DATABASE_UNAVAILABLE = "The database did not answer; nothing was changed by this request. Retry it."


def connection_failed(exc: BaseException) -> bool:
    """A failure of the database connection itself (killed, reset, the server restarting), not
    of a statement: the request may be retried on a fresh connection."""
    # Django's wrappers (the thread's ORM), psycopg's and asyncpg's own, the socket's.
    return isinstance(exc, (
        OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError,
        asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.exceptions.OperatorInterventionError,
        # asyncpg's client state after the server dropped a connection mid-operation
        asyncpg.exceptions.InternalClientError, ConnectionError, OSError,
    ))


def as_domain_error(exc: BaseException) -> EnvError | None:
    """The domain error a transport answers for ``exc``: itself, a database connection failure
    as 503, anything else None (a bug: 500, and its traceback in the log)."""
    if isinstance(exc, EnvError):
        return exc
    if connection_failed(exc):
        log.warning("database connection failed: %s", exc)
        return UnavailableError(DATABASE_UNAVAILABLE)
    return None


def items(exc: ValidationError, where: str = "body") -> list[dict[str, Any]]:
    """FastAPI's 422 items, ``loc`` starting with ``where`` ("body" or "query")."""
    return [{**item, "loc": [where, *item["loc"]]} for item in exc.errors]


def error_body(exc: EnvError, where: str | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) answering a domain error; a validation error's items are
    located in ``where``, by default its own (the body, or the query)."""
    if isinstance(exc, ValidationError):
        return exc.status, {"detail": items(exc, where or exc.where)}
    return exc.status, {"detail": exc.message}


def ws_error(exc: EnvError) -> dict[str, Any]:
    data: dict[str, Any] = {"message": exc.message, "code": exc.code}
    if exc.field:
        data["field"] = exc.field
    if isinstance(exc, ValidationError):
        data["errors"] = items(exc)
    return {"type": "error", "data": data}


def mcp_tool_error(exc: EnvError) -> dict[str, Any]:
    """A failed tool call: the message as text, and the structured error beside it."""
    status, body = error_body(exc, "arguments")
    return {"content": [{"type": "text", "text": exc.message}], "isError": True,
            "structuredContent": {"status": status, "code": exc.code, "field": exc.field, **body}}
