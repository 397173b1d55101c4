"""The domain errors: one hierarchy for the environment and every app built on it.

Each error carries a message, the request field it concerns (a dotted path, or None), the HTTP
status that answers it and the OpenEnv WebSocket error code. The transports turn them into one
shape each: ``{"detail": ...}`` over HTTP, an error frame over WebSocket, an ``isError`` result
over MCP; the pages show the same message. A validation error also carries its items, in
FastAPI's shape (``{"type", "loc", "msg", "input"}``, ``loc`` relative to the request).
"""

from __future__ import annotations

from typing import Any


class EnvError(Exception):
    """Base class. ``field`` is the request field at fault (a dotted path), or None."""

    status = 400
    code = "EXECUTION_ERROR"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationError(EnvError):
    """A malformed request: wrong types, unknown fields, unknown task or patient, bad seed.

    ``errors`` are the FastAPI-shaped items (``loc`` without the "body"/"query" prefix); one
    is made from the message and field when none are given."""

    status = 422
    code = "VALIDATION_ERROR"

    def __init__(
        self, message: str, field: str | None = None, *, errors: list[dict[str, Any]] | None = None,
        kind: str = "value_error", value: Any = None, where: str = "body",
    ) -> None:
        super().__init__(message, field)
        if errors is None:
            loc: list[Any] = field.split(".") if field else []
            errors = [{"type": kind, "loc": loc, "msg": message, "input": value}]
        self.errors = errors
        self.where = where  # what the locations are in: the request "body" or its "query"


class InvalidJSON(ValidationError):
    """A body or frame that is not strict JSON (NaN, a lone surrogate, too deep, a NUL...)."""

    code = "INVALID_JSON"


class UnknownMessageType(ValidationError):
    """A WebSocket frame of a type the server does not serve."""

    code = "UNKNOWN_TYPE"


class UnsupportedMediaType(EnvError):
    """A body in an encoding or media type the server does not read: 415."""

    status = 415
    code = "VALIDATION_ERROR"


class NotFoundError(EnvError):
    """Nothing by that name for this caller (unknown, or someone else's: the same answer)."""

    status = 404
    code = "SESSION_ERROR"


class ConflictError(EnvError):
    """The request is well-formed but cannot be taken now (a finished episode, a lost race)."""

    status = 409
    code = "SESSION_ERROR"


class PayloadTooLarge(EnvError):
    """A request beyond a stated size limit."""

    status = 413
    code = "VALIDATION_ERROR"


class LimitExceeded(EnvError):
    """The caller has used up a stated allowance (a quota of queued jobs): 429."""

    status = 429
    code = "EXECUTION_ERROR"


class PermissionDeniedError(EnvError):
    """The caller is known but may not do this."""

    status = 403
    code = "SESSION_ERROR"


class UnavailableError(EnvError):
    """The service cannot answer now (the catalog is not loaded, the database is down): 503."""

    status = 503
    code = "EXECUTION_ERROR"


class CatalogError(EnvError):
    """Catalog data that breaks an invariant (unknown drug, risk out of range, ...)."""


class EpisodeFinishedError(ConflictError):
    """A step on an episode that has ended (terminated or truncated)."""


class NoEpisodeError(NotFoundError):
    """A step or state before any reset."""


class SnapshotError(ConflictError):
    """A snapshot that cannot be restored (other catalog, other version, corrupt)."""
