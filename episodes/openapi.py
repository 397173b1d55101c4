"""OpenAPI for drf-spectacular: the env endpoints' bodies are the contract's own models.

``add_contract_schemas`` (a post-processing hook) puts the JSON schemas pydantic derives from
``envcore.contract`` into ``components``, and the views reference them by name (``ref``), so
``/openapi.json``, ``/schema``, MCP and the validators agree by construction. The document is
OpenAPI 3.1, whose schemas are JSON Schema (pydantic's nullable is ``anyOf [..., null]``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from pydantic.json_schema import models_json_schema
from rest_framework import serializers

from envcore import contract

_REF = "#/components/schemas/{model}"
_MODELS = (contract.ResetRequest, contract.StepRequest, contract.StepResponse, contract.ErrorItem,
           contract.ErrorData, contract.ResetFrame, contract.StepFrame, contract.StateFrame, contract.CloseFrame,
           contract.McpFrame, contract.ObservationFrame, contract.StateReplyFrame, contract.ErrorFrame)


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


def env_operation(operation_id: str, request: str, summary: str) -> Any:
    """The schema of ``POST /reset`` or ``/step``: a contract request in, a StepResponse out."""
    return extend_schema(
        operation_id=operation_id, summary=summary, request={"application/json": ref(request)},
        responses={200: ref("StepResponse"), 404: DETAIL, 409: DETAIL, 413: DETAIL, 422: VALIDATION, 503: DETAIL},
    )


def contract_schemas() -> dict[str, Any]:
    """Every contract schema, as OpenAPI components (their references between each other included)."""
    _, top = models_json_schema([(model, "validation") for model in _MODELS], ref_template=_REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["PolypharmacyAction"] = _strip_defs(contract.action_json_schema(ref_template=_REF), schemas)
    schemas["PolypharmacyObservation"] = _strip_defs(contract.observation_json_schema(ref_template=_REF), schemas)
    schemas["PolypharmacyState"] = _strip_defs(contract.state_json_schema(ref_template=_REF), schemas)
    return schemas


def _strip_defs(schema: dict[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    into.update(schema.pop("$defs", {}))
    return schema


def add_contract_schemas(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the contract's schemas as components."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(contract_schemas())
    return result
