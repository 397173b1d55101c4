"""The OpenEnv REST endpoints (DESIGN §4): thin views over ``episodes.services``.

Bodies are read as raw JSON (not DRF's parsers) so a malformed or non-object body gets the
OpenEnv 422 shape with its own message, and so the hot path stays short.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from envcore.errors import EnvError
from envcore.schema import ACTION_SCHEMA, OBSERVATION_SCHEMA, STATE_SCHEMA
from episodes import openapi
from episodes.errors import AUTH_REQUIRED_MESSAGE, error_response
from episodes.metadata import environment_metadata
from episodes.requests import parse_json_object, parse_reset, parse_state, parse_step
from episodes.services import Caller, episode_reset, episode_state, episode_step, wire_payload

ANON_COOKIE = "polypharmacy_anon"


class EnvAPIPermission(permissions.BasePermission):
    """Anonymous use by default; ``POLYPHARMACY_API_AUTH=required`` demands a user."""

    message = AUTH_REQUIRED_MESSAGE

    def has_permission(self, request: Any, view: Any) -> bool:
        return settings.POLYPHARMACY_API_AUTH != "required" or bool(request.user and request.user.is_authenticated)


def request_caller(request: Request, *, channel: str = "api") -> tuple[Caller, str | None]:
    """The caller, and the anonymous key to set as a cookie when the request brought none (the
    caller then already carries that new key, so what it starts is found by its next request)."""
    user = request.user
    if user is not None and user.is_authenticated:
        return Caller.for_user(user, channel=channel), None
    key = request.COOKIES.get(ANON_COOKIE, "")
    if len(key) != 32 or not key.isalnum():
        new_key = secrets.token_hex(16)
        return Caller(anon_key=new_key), new_key
    return Caller(anon_key=key), None


def with_anon_cookie(response: Response, new_key: str | None) -> Response:
    if new_key:
        response.set_cookie(ANON_COOKIE, new_key, httponly=True, samesite="Lax", max_age=30 * 24 * 3600)
    return response


@extend_schema(
    operation_id="reset",
    summary="Start an episode (or resume the caller's open episode named by episode_id).",
    request=openapi.RESET_REQUEST,
    responses={200: openapi.STEP_RESPONSE, 404: openapi.DETAIL, 409: openapi.DETAIL, 422: openapi.VALIDATION},
)
@api_view(["POST"])
@permission_classes([EnvAPIPermission])
def reset(request: Request) -> Response:
    caller, new_key = request_caller(request)
    data = None
    try:
        data = parse_json_object(request.body)
        obs, _resumed = episode_reset(caller, **parse_reset(data))
    except EnvError as exc:
        return error_response(exc, data)
    return with_anon_cookie(Response(wire_payload(obs, reset=True)), new_key)


@extend_schema(
    operation_id="step",
    summary="Take one action on the episode named by episode_id, else the caller's latest open one.",
    request=openapi.STEP_REQUEST,
    responses={200: openapi.STEP_RESPONSE, 404: openapi.DETAIL, 409: openapi.DETAIL, 422: openapi.VALIDATION},
)
@api_view(["POST"])
@permission_classes([EnvAPIPermission])
def step(request: Request) -> Response:
    caller, _ = request_caller(request)
    data = None
    try:
        data = parse_json_object(request.body)
        action, episode_id = parse_step(data)
        _row, obs = episode_step(caller, action=action, episode_id=episode_id)
    except EnvError as exc:
        return error_response(exc, data)
    return Response(wire_payload(obs))


@extend_schema(
    operation_id="state",
    summary="The state of the named episode, else of the caller's most recent one.",
    parameters=[OpenApiParameter("episode_id", str, required=False)],
    responses={200: openapi.STATE, 404: openapi.DETAIL, 422: openapi.VALIDATION},
)
@api_view(["GET"])
@permission_classes([EnvAPIPermission])
def state(request: Request) -> Response:
    caller, _ = request_caller(request)
    try:
        return Response(episode_state(caller, episode_id=parse_state(request.query_params)))
    except EnvError as exc:
        return error_response(exc, {"episode_id": request.query_params.get("episode_id")}, where="query")


@extend_schema(operation_id="schema", responses={200: openapi.SCHEMAS})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([permissions.AllowAny])
def schema(request: Request) -> Response:
    return Response({"action": ACTION_SCHEMA, "observation": OBSERVATION_SCHEMA, "state": STATE_SCHEMA})


@extend_schema(operation_id="metadata", responses={200: openapi.METADATA})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([permissions.AllowAny])
def metadata(request: Request) -> Response:
    return Response(environment_metadata())
