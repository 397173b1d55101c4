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
AUTH_REQUIRED_MESSAGE = "Authentication required: send 'Authorization: Token <key>' or log in."


def validation_detail(
    message: str, field: str | None, value: Any = None, kind: str = "value_error", where: str = "body"
) -> list[dict]:
    """FastAPI's 422 item; ``where`` is "body" or "query", as FastAPI locates the input."""
    loc: list[str] = [where] + (field.split(".") if field else [])
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


def input_at(body: Any, field: str | None) -> Any:
    """The value at a dotted field path of the request body (FastAPI's ``input``), else None."""
    if not field:
        return None
    value = body
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def error_response(exc: EnvError, body: Any = None, where: str = "body") -> Response:
    """The HTTP answer to a domain error; ``body`` (the parsed request) supplies a 422's input."""
    status = http_status(exc)
    if status == 422:
        detail = validation_detail(exc.message, exc.field, input_at(body, exc.field), where=where)
        return Response({"detail": detail}, status=422)
    return Response({"detail": exc.message}, status=status)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's exception handler, extended to the domain errors and OpenEnv's shapes."""
    if isinstance(exc, EnvError):
        return error_response(exc)
    if isinstance(exc, drf_exceptions.NotAuthenticated):
        # DRF says only "credentials were not provided"; say how to provide them. The 401 and
        # its WWW-Authenticate header are DRF's (TokenAuthentication is the first class).
        response = drf_default_handler(exc, context)
        if response is not None:
            response.data = {"detail": AUTH_REQUIRED_MESSAGE}
        return response
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
