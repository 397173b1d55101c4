"""Domain exceptions of the environment. Each names the field it concerns, so every entry point
(REST, WebSocket, MCP, forms) can turn it into one error shape."""

from __future__ import annotations


class EnvError(Exception):
    """Base class. ``field`` is the request field at fault (a dotted path), or None."""

    code = "EXECUTION_ERROR"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class CatalogError(EnvError):
    """Catalog data that breaks an invariant (unknown drug, risk out of range, ...)."""


class ValidationError(EnvError):
    """A malformed request: wrong types, unknown fields, unknown task or patient, bad seed."""

    code = "VALIDATION_ERROR"


class EpisodeFinishedError(EnvError):
    """A step on an episode that has ended (terminated or truncated)."""

    code = "SESSION_ERROR"


class NoEpisodeError(EnvError):
    """A step or state before any reset."""

    code = "SESSION_ERROR"


class SnapshotError(EnvError):
    """A snapshot that cannot be restored (other catalog, other version, corrupt)."""
