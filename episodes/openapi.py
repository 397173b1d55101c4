"""OpenAPI for drf-spectacular: the env endpoints' bodies are the contract's own models.

``add_contract_schemas`` (a post-processing hook) puts the JSON schemas pydantic derives from
``envcore.contract`` into ``components``, and the views reference them by name (``ref``), so
``/openapi.json``, ``/schema``, MCP and the validators agree by construction. The document is
OpenAPI 3.1, whose schemas are JSON Schema (pydantic's nullable is ``anyOf [..., null]``).

The hook also adds what drf-spectacular cannot see: ``GET /health`` (a plain Django view, kept
off DRF so a probe costs no content negotiation or authentication) and the WebSocket protocol of
``/ws`` (OpenAPI has no WebSocket operations): a section of ``info.description``, which /docs shows
first, whose frame types, answers and error codes are read from the contract's frame models, and
those models as components (``WsClientFrame``, ``WsServerFrame`` and each frame).
"""

from __future__ import annotations

import typing
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema
from rest_framework import serializers

from envcore import contract

_REF = "#/components/schemas/{model}"
_MODELS = (contract.ResetRequest, contract.StepRequest, contract.TaskListRequest, contract.TaskRequest,
           contract.TaskRangeRequest, contract.StepResponse, contract.RenderResponse, contract.ErrorItem,
           contract.ErrorData, contract.ResetFrame, contract.StepFrame, contract.StateFrame, contract.CloseFrame,
           contract.McpFrame, contract.ObservationFrame, contract.StateReplyFrame, contract.ErrorFrame,
           contract.McpReplyFrame)
ENV_TAG = "environment"
TAGS = [
    {"name": ENV_TAG, "description": "The OpenEnv protocol over HTTP (reset, step, state) and what its clients read "
     "first (health, schema, metadata); render, the observation as text for language models. The same episodes over "
     "WebSocket: /ws, described above."},
    {"name": "mcp", "description": "The environment's actions as MCP tools, JSON-RPC 2.0 over HTTP."},
    {"name": "tasks", "description": "OpenEnv's Task API: the splits (train, test, patients) and their tasks; "
     "reset with a task's split and index to start it."},
    {"name": "jobs", "description": "Queued work (training, evaluation, screening, LLM suggestions), its results "
     "and checkpoints. Token or session auth; researchers and supervisors (README, Accounts and permissions)."},
    {"name": "bandit", "description": "OptimNeuralTS screening of drug combinations with a trained bandit model."},
]


def ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


DETAIL = OpenApiResponse(inline_serializer("ErrorDetail", {"detail": serializers.CharField()}))
VALIDATION = OpenApiResponse({"type": "object", "properties": {"detail": {"type": "array", "items": ref("ErrorItem")}},
                              "required": ["detail"]}, description="The request failed validation.")
SCHEMAS = inline_serializer(
    "EnvSchemas",
    {"action": serializers.DictField(), "observation": serializers.DictField(), "state": serializers.DictField()},
)
METADATA = inline_serializer(
    "EnvMetadata",
    {name: serializers.CharField() for name in ("name", "description", "readme_content", "version", "author", "documentation_url")},
)


def env_operation(operation_id: str, request: str, summary: str, description: str) -> Any:
    """The schema of ``POST /reset`` or ``/step``: a contract request in, a StepResponse out."""
    return extend_schema(
        operation_id=operation_id, tags=[ENV_TAG], summary=summary, description=description,
        request={"application/json": ref(request)},
        responses={200: ref("StepResponse"), 404: DETAIL, 409: DETAIL, 413: DETAIL, 422: VALIDATION, 503: DETAIL},
    )


def contract_schemas() -> dict[str, Any]:
    """Every contract schema, as OpenAPI components (their references between each other included)."""
    _, top = models_json_schema([(model, "validation") for model in _MODELS], ref_template=_REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["PolypharmacyAction"] = _strip_defs(contract.action_json_schema(ref_template=_REF), schemas)
    schemas["PolypharmacyObservation"] = _strip_defs(contract.observation_json_schema(ref_template=_REF), schemas)
    schemas["PolypharmacyState"] = _strip_defs(contract.state_json_schema(ref_template=_REF), schemas)
    frames: tuple[tuple[str, Any], ...] = (("WsClientFrame", contract.ClientFrame), ("WsServerFrame", contract.ServerFrame))
    for name, union in frames:  # Annotated unions: a TypeAdapter takes them, its signature says type
        schemas[name] = _strip_defs(TypeAdapter(union).json_schema(ref_template=_REF), schemas)
    return schemas


def _strip_defs(schema: dict[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    into.update(schema.pop("$defs", {}))
    return schema


# ── GET /health ─────────────────────────────────────────────────────────────
_HEALTH_BODY = {
    "type": "object", "required": ["status", "database", "channel_layer"],
    "properties": {"status": {"enum": ["healthy", "unhealthy"]}, "database": {"enum": ["ok", "unavailable"]},
                   "channel_layer": {"enum": ["ok", "unavailable"]}},
}
HEALTH = {"get": {
    "operationId": "health", "tags": [ENV_TAG], "summary": "Is the site up?",
    "description": "OpenEnv's health probe. 503 with status unhealthy when the database does not answer; the "
                   "channel layer (Redis, live review updates only) is reported without failing the probe. No "
                   "error text is shown. Answered on plain HTTP in production mode too, for probes.",
    "security": [],
    "responses": {str(code): {"description": text, "content": {"application/json": {"schema": _HEALTH_BODY}}}
                  for code, text in ((200, "The site can serve episodes."), (503, "The database does not answer."))},
}}


# ── WS /ws ──────────────────────────────────────────────────────────────────
# What answers each client frame: protocol behaviour, which the models cannot say (DESIGN §4).
_WS_ANSWERS: tuple[tuple[type[BaseModel], tuple[type[BaseModel], ...], str], ...] = (
    (contract.ResetFrame, (contract.ObservationFrame,), "Start an episode, as POST /reset (`data` optional); an "
     "`episode_id` of an open episode of the caller resumes it."),
    (contract.StepFrame, (contract.ObservationFrame,), "One action, as POST /step's `action` (`data` is the action)."),
    (contract.StateFrame, (contract.StateReplyFrame,), "The session's episode state, as GET /state."),
    (contract.CloseFrame, (), "End the session: the server closes the connection, with no reply."),
    (contract.McpFrame, (contract.McpReplyFrame,), "One JSON-RPC 2.0 message, answered as POST /mcp answers it."),
)


def _frame_type(model: type[BaseModel]) -> str:
    return typing.get_args(model.model_fields["type"].annotation)[0]


def websocket_description() -> str:
    """The /ws section of the docs page, its frame names and codes read from the contract."""
    rows = []
    for frame, answers, meaning in _WS_ANSWERS:
        answer = " or ".join([f"`{_frame_type(a)}` ({a.__name__})" for a in answers] +
                             ([f"`{_frame_type(contract.ErrorFrame)}` (ErrorFrame)"] if answers else []))
        rows.append(f"| `{_frame_type(frame)}` ({frame.__name__}) | {meaning} | {answer or 'none: the server closes'} |")
    codes = ", ".join(f"`{code}`" for code in typing.get_args(contract.ErrorData.model_fields["code"].annotation))
    return "\n".join([
        "## WebSocket `/ws`",
        "",
        "The OpenEnv client's transport (`GenericEnvClient` turns `http://host` into `ws://host/ws`): one session per "
        "connection, many connections at once. Frames are JSON objects `{\"type\": …, \"data\": …}`, with no other "
        "key; each client frame but `close` gets exactly one answer, in order. Their schemas are the components `WsClientFrame` "
        "and `WsServerFrame` (below, under Schemas), derived from the same models as the HTTP bodies.",
        "",
        "| client frame | what it does | answer |",
        "|---|---|---|",
        *rows,
        "",
        f"Error frames carry `{{\"message\", \"code\", \"field\"?, \"errors\"?}}` (ErrorData), code one of {codes}. "
        "The session survives its errors, except `CAPACITY_REACHED`, sent once before the server closes. Token "
        "auth: `?token=` or the `Authorization` header; a logged-in browser's session cookie only from this site's "
        "origins.",
    ])


def add_contract_schemas(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the contract's schemas as components, /health, the
    WebSocket protocol and the tags' descriptions."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(contract_schemas())
    result.setdefault("paths", {})["/health"] = HEALTH
    info = result.setdefault("info", {})
    info["description"] = f"{settings.SPECTACULAR_SETTINGS['DESCRIPTION']}\n\n{websocket_description()}"
    result["tags"] = TAGS
    return result
