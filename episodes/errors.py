"""One error shape for every entry point (STYLE §5).

Domain exceptions carry a message and the field at fault. Over HTTP they become OpenEnv's
(FastAPI's) bodies: 422 ``{"detail": [{"type", "loc", "msg", "input"}]}`` for validation,
``{"detail": "..."}`` with 404/409/413/503 otherwise. Over WebSocket they become
``{"type": "error", "data": {"message", "code"}}`` frames.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from envcore.errors import EnvError, EpisodeFinishedError, NoEpisodeError, ValidationError
from episodes.services import EpisodeConflict, EpisodeNotFound, ServiceUnavailable

MAX_BODY_BYTES = 1024 * 1024


def validation_detail(message: str, field: str | None, value: Any = None, kind: str = "value_error") -> list[dict]:
    loc: list[str] = ["body"] + (field.split(".") if field else [])
    return [{"type": kind, "loc": loc, "msg": message, "input": value}]


def http_status(exc: EnvError) -> int:
    if isinstance(exc, ValidationError):
        return 422
    if isinstance(exc, (EpisodeNotFound, NoEpisodeError)):
        return 404
    if isinstance(exc, (EpisodeConflict, EpisodeFinishedError)):
        return 409
    if isinstance(exc, ServiceUnavailable):
        return 503
    return 400


def error_response(exc: EnvError) -> Response:
    status = http_status(exc)
    if status == 422:
        return Response({"detail": validation_detail(exc.message, exc.field)}, status=422)
    return Response({"detail": exc.message}, status=status)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's exception handler, extended to the domain errors and OpenEnv's shapes."""
    if isinstance(exc, EnvError):
        return error_response(exc)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": f"Request body larger than {MAX_BODY_BYTES} bytes."}, status=413)
    if isinstance(exc, drf_exceptions.ParseError):
        return Response({"detail": validation_detail(f"Malformed JSON: {exc.detail}", None, kind="json_invalid")}, status=422)
    return drf_default_handler(exc, context)


def ws_error(exc: EnvError) -> dict[str, Any]:
    data: dict[str, Any] = {"message": exc.message, "code": exc.code}
    if exc.field:
        data["field"] = exc.field
    if isinstance(exc, ValidationError):
        data["errors"] = validation_detail(exc.message, exc.field)
    return {"type": "error", "data": data}
