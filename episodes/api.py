"""The OpenEnv REST endpoints (DESIGN §4): thin views over ``episodes.services`` and
``episodes.steps``.

Bodies are read strictly and validated by the contract's models before anything is looked up
(``episodes.wire``); errors are raised and answered by the one DRF exception handler
(``episodes.errors``). Anonymous steps on episodes this process serves, and fresh anonymous
resets, are answered before Django by ``episodes.fastpath`` with the same bytes.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from http.cookies import Morsel, SimpleCookie
from typing import Any, TypeGuard

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from envcore.contract import (
    RenderQuery,
    ResetRequest,
    StateQuery,
    StepRequest,
    action_json_schema,
    observation_json_schema,
    state_json_schema,
    validate,
)
from episodes import openapi
from episodes.errors import AUTH_REQUIRED_MESSAGE
from episodes.metadata import environment_metadata
from episodes.services import episode_render, episode_reset, episode_state, wire_body
from episodes.sessions import Caller
from episodes.steps import episode_step
from episodes.wire import body_model

ANON_COOKIE = "polypharmacy_anon"
ANON_COOKIE_MAX_AGE = 30 * 24 * 3600


class EnvAPIPermission(permissions.BasePermission):
    """Anonymous use by default; ``POLYPHARMACY_API_AUTH=required`` demands a user."""

    message = AUTH_REQUIRED_MESSAGE

    def has_permission(self, request: Any, view: Any) -> bool:
        return settings.POLYPHARMACY_API_AUTH != "required" or bool(request.user and request.user.is_authenticated)


def valid_anon_key(key: str | None) -> TypeGuard[str]:
    return key is not None and len(key) == 32 and key.isalnum()


def request_caller(request: Request, *, channel: str = "api") -> tuple[Caller, str | None]:
    """The caller, and the anonymous key to set as a cookie when the request brought none (the
    caller then already carries that new key, so what it starts is found by its next request)."""
    user = request.user
    if user is not None and user.is_authenticated:
        return Caller.for_user(user, channel=channel), None
    key = request.COOKIES.get(ANON_COOKIE, "")
    if not valid_anon_key(key):
        new_key = secrets.token_hex(16)
        return Caller(anon_key=new_key), new_key
    return Caller(anon_key=key), None


def anon_cookie(key: str) -> Morsel[str]:
    """The anonymous caller's cookie (the one definition: the fast path sends the same)."""
    cookie: SimpleCookie = SimpleCookie()
    cookie[ANON_COOKIE] = key
    morsel = cookie[ANON_COOKIE]
    morsel.update({"max-age": str(ANON_COOKIE_MAX_AGE), "path": "/", "samesite": "Lax"})
    morsel["httponly"] = True
    if settings.SESSION_COOKIE_SECURE:
        morsel["secure"] = True
    return morsel


def with_anon_cookie(response: HttpResponse, new_key: str | None) -> HttpResponse:
    if new_key:
        response.cookies[ANON_COOKIE] = anon_cookie(new_key)
    return response


def json_response(body: bytes) -> HttpResponse:
    return HttpResponse(body, content_type="application/json")


@openapi.env_operation("reset", "ResetRequest",
                       "Start an episode (or resume the caller's open episode named by episode_id).",
                       "Every field is optional (an empty body is a valid reset): a seed picks the patient "
                       "reproducibly, patient_id picks it directly (it must be in the task's pool). Answers exactly "
                       "{observation, reward, done}; an anonymous caller gets a cookie naming it, so a client that "
                       "keeps cookies can step without naming the episode. 422 for a refused body (nothing changes).")
@api_view(["POST"])
@permission_classes([EnvAPIPermission])
def reset(request: Request) -> HttpResponse:
    request_body = body_model(request, ResetRequest)
    caller, new_key = request_caller(request)
    session, _resumed = episode_reset(caller, request_body)
    assert session.env.observation is not None
    return with_anon_cookie(json_response(wire_body(session.env.observation, reset=True)), new_key)


@openapi.env_operation("step", "StepRequest",
                       "Take one action on the episode named by episode_id, else the caller's latest open one.",
                       "The step is stored before it is answered. A well-formed action the environment refuses (a "
                       "drug outside the regimen, an exhausted budget) is an ordinary penalised step with "
                       "last_action_error; a malformed one is a 422 and takes no step. 404: no such episode of the "
                       "caller's; 409: it has finished, or it is a review session (stepped on its page only).")
@api_view(["POST"])
@permission_classes([EnvAPIPermission])
def step(request: Request) -> HttpResponse:
    request_body = body_model(request, StepRequest)
    caller, _ = request_caller(request)
    result = episode_step(caller, action=request_body.action, episode_id=request_body.episode_id)
    return json_response(wire_body(result.observation, encoded=result.observation_json))


@extend_schema(
    operation_id="state",
    summary="The state of the named episode, else of the caller's most recent one.",
    description="episode_id, step_count, task, budgets and limits. With no episode to show, "
                "{\"episode_id\": null, \"step_count\": 0} (200), as OpenEnv's own server answers.",
    tags=[openapi.ENV_TAG],
    parameters=[OpenApiParameter("episode_id", str, required=False)],
    responses={200: openapi.ref("PolypharmacyState"), 404: openapi.DETAIL, 422: openapi.VALIDATION},
)
@api_view(["GET"])
@permission_classes([EnvAPIPermission])
def state(request: Request) -> Response:
    query = query_model(request, StateQuery, ("episode_id",))
    caller, _ = request_caller(request)
    return Response(episode_state(caller, episode_id=query.episode_id))


@extend_schema(
    operation_id="render",
    summary="The latest observation of the named episode (else the caller's most recent) as text for an LLM.",
    description="What the LLM suggester builds its prompt from (envcore/render.py): the whole observation as JSON, "
                "each drug's same-class substitute candidates and the rules an action must follow. For language-model "
                "agents (TRL's environment class reads it after every step); reset and step keep answering exactly "
                "{observation, reward, done}. 404 when there is no such episode of the caller's.",
    tags=[openapi.ENV_TAG],
    parameters=[OpenApiParameter("episode_id", str, required=False)],
    responses={200: openapi.ref("RenderResponse"), 404: openapi.DETAIL, 422: openapi.VALIDATION},
)
@api_view(["GET"])
@permission_classes([EnvAPIPermission])
def render(request: Request) -> Response:
    query = query_model(request, RenderQuery, ("episode_id",))
    caller, _ = request_caller(request)
    return Response(episode_render(caller, episode_id=query.episode_id))


def query_model(request: Request, model: Any, names: tuple[str, ...]) -> Any:
    """Query parameters ``names`` validated by ``model``; its errors are located in the query."""
    query = {name: request.query_params[name] for name in names if name in request.query_params}
    return validate(model, query, where="query")


@lru_cache(maxsize=1)
def _schemas() -> dict[str, Any]:
    return {"action": action_json_schema(), "observation": observation_json_schema(), "state": state_json_schema()}


@extend_schema(operation_id="schema", tags=[openapi.ENV_TAG], summary="The action, observation and state schemas.",
               description="JSON schemas derived from the contract's pydantic models (the same as this document's "
               "PolypharmacyAction, PolypharmacyObservation and PolypharmacyState). Exactly OpenEnv's three keys "
               "(its SchemaResponse forbids others): GET /render's answer is the RenderResponse component.", responses={200: openapi.SCHEMAS})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([permissions.AllowAny])
def schema(request: Request) -> Response:
    return Response(_schemas())


@extend_schema(operation_id="metadata", tags=[openapi.ENV_TAG], summary="What this environment is.",
               description="OpenEnv's metadata: name, description, the README, version, author and documentation URL.",
               responses={200: openapi.METADATA})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([permissions.AllowAny])
def metadata(request: Request) -> Response:
    return Response(environment_metadata())
