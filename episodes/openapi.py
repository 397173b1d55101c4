"""OpenAPI pieces for drf-spectacular: request/response components of the env endpoints.

The action, observation and state schemas are envcore's own (``envcore.schema``); a
post-processing hook puts them into ``components`` so ``/openapi.json`` and ``/schema`` agree.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from envcore.schema import ACTION_SCHEMA, OBSERVATION_SCHEMA, STATE_SCHEMA
from envcore.scenarios import TASKS

RESET_REQUEST = inline_serializer(
    "ResetRequest",
    {
        "seed": serializers.IntegerField(required=False, allow_null=True, min_value=0),
        "episode_id": serializers.CharField(required=False, allow_null=True, max_length=255),
        "task_id": serializers.ChoiceField(choices=list(TASKS), required=False, allow_null=True),
        "patient_id": serializers.CharField(required=False, allow_null=True, max_length=255),
        "catalog": serializers.ChoiceField(choices=["classic", "curated"], required=False, allow_null=True),
        "durability": serializers.ChoiceField(choices=["full", "fast"], required=False, allow_null=True),
    },
)
STEP_REQUEST = inline_serializer(
    "StepRequest",
    {
        "action": serializers.JSONField(help_text="PolypharmacyAction"),
        "episode_id": serializers.CharField(required=False, allow_null=True, max_length=255),
        "timeout_s": serializers.FloatField(required=False, allow_null=True, min_value=0),
        "request_id": serializers.CharField(required=False, allow_null=True, max_length=255),
    },
)
STEP_RESPONSE = inline_serializer(
    "StepResponse",
    {
        "observation": serializers.JSONField(help_text="PolypharmacyObservation"),
        "reward": serializers.FloatField(allow_null=True),
        "done": serializers.BooleanField(),
    },
)
DETAIL = OpenApiResponse(inline_serializer("ErrorDetail", {"detail": serializers.CharField()}))
VALIDATION = OpenApiResponse(
    inline_serializer("ValidationErrorBody", {"detail": serializers.ListField(child=serializers.DictField())})
)
STATE = inline_serializer("StateResponse", {"episode_id": serializers.CharField(allow_null=True), "step_count": serializers.IntegerField()})
SCHEMAS = inline_serializer(
    "EnvSchemas",
    {"action": serializers.DictField(), "observation": serializers.DictField(), "state": serializers.DictField()},
)
METADATA = inline_serializer(
    "EnvMetadata",
    {name: serializers.CharField() for name in ("name", "description", "readme_content", "version", "author", "documentation_url")},
)


def add_env_schemas(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: envcore's schemas as components, referenced from
    the step request's ``action`` and the responses' ``observation``."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["PolypharmacyAction"] = ACTION_SCHEMA
    schemas["PolypharmacyObservation"] = OBSERVATION_SCHEMA
    schemas["PolypharmacyState"] = STATE_SCHEMA
    if "StepRequest" in schemas:
        schemas["StepRequest"]["properties"]["action"] = {"$ref": "#/components/schemas/PolypharmacyAction"}
    if "StepResponse" in schemas:
        schemas["StepResponse"]["properties"]["observation"] = {"$ref": "#/components/schemas/PolypharmacyObservation"}
    return result
