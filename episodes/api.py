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
from episodes.errors import error_response
from episodes.metadata import environment_metadata
from episodes.requests import parse_json_object, parse_reset, parse_step
from episodes.services import Caller, episode_reset, episode_state, episode_step, wire_payload

ANON_COOKIE = "polypharmacy_anon"


class EnvAPIPermission(permissions.BasePermission):
    """Anonymous use by default; ``POLYPHARMACY_API_AUTH=required`` demands a user."""

    message = "Authentication required: send 'Authorization: Token <key>' or log in."

    def has_permission(self, request: Any, view: Any) -> bool:
        return settings.POLYPHARMACY_API_AUTH != "required" or bool(request.user and request.user.is_authenticated)


def _caller(request: Request) -> tuple[Caller, str | None]:
    """The caller, and a new anonymous key to set as a cookie (None: keep the current one)."""
    user = request.user
    if user is not None and user.is_authenticated:
        return Caller.for_user(user, channel="api"), None
    key = request.COOKIES.get(ANON_COOKIE, "")
    if len(key) != 32 or not key.isalnum():
        return Caller(anon_key=""), secrets.token_hex(16)
    return Caller(anon_key=key), None


def _with_cookie(response: Response, new_key: str | None) -> Response:
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
    caller, new_key = _caller(request)
    if new_key:
        caller = Caller(anon_key=new_key)
    try:
        obs, _resumed = episode_reset(caller, **parse_reset(parse_json_object(request.body)))
    except EnvError as exc:
        return error_response(exc)
    return _with_cookie(Response(wire_payload(obs, reset=True)), new_key)


@extend_schema(
    operation_id="step",
    summary="Take one action on the episode named by episode_id, else the caller's latest open one.",
    request=openapi.STEP_REQUEST,
    responses={200: openapi.STEP_RESPONSE, 404: openapi.DETAIL, 409: openapi.DETAIL, 422: openapi.VALIDATION},
)
@api_view(["POST"])
@permission_classes([EnvAPIPermission])
def step(request: Request) -> Response:
    caller, _ = _caller(request)
    try:
        action, episode_id = parse_step(parse_json_object(request.body))
        _row, obs = episode_step(caller, action=action, episode_id=episode_id)
    except EnvError as exc:
        return error_response(exc)
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
    caller, _ = _caller(request)
    try:
        return Response(episode_state(caller, episode_id=request.query_params.get("episode_id")))
    except EnvError as exc:
        return error_response(exc)


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
