"""JSON schemas of the action, observation and state (served at ``/schema`` and in OpenAPI)."""

from __future__ import annotations

from typing import Any

from envcore.actions import ACTION_TYPES, INTERVENTION_TYPES, MAX_ID_LENGTH, MAX_RATIONALE_LENGTH
from envcore.scenarios import TASKS

_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}

QUERY_ACTION = {
    "title": "QueryDDI",
    "type": "object",
    "properties": {
        "action_type": {"type": "string", "enum": ["query_ddi"]},
        "drug_id_1": _ID,
        "drug_id_2": _ID,
        "metadata": {"type": "object"},
    },
    "required": ["action_type", "drug_id_1", "drug_id_2"],
    "additionalProperties": False,
}
INTERVENTION_ACTION = {
    "title": "ProposeIntervention",
    "type": "object",
    "properties": {
        "action_type": {"type": "string", "enum": ["propose_intervention"]},
        "target_drug_id": _ID,
        "intervention_type": {"type": "string", "enum": list(INTERVENTION_TYPES)},
        "proposed_new_drug_id": {**_ID, "nullable": True},
        "rationale": {"type": "string", "maxLength": MAX_RATIONALE_LENGTH, "nullable": True},
        "metadata": {"type": "object"},
    },
    "required": ["action_type", "target_drug_id", "intervention_type"],
    "additionalProperties": False,
}
FINISH_ACTION = {
    "title": "FinishReview",
    "type": "object",
    "properties": {"action_type": {"type": "string", "enum": ["finish_review"]}, "metadata": {"type": "object"}},
    "required": ["action_type"],
    "additionalProperties": False,
}
ACTION_SCHEMA: dict[str, Any] = {
    "title": "PolypharmacyAction",
    "description": "One of the three actions, chosen by action_type (" + ", ".join(ACTION_TYPES) + ").",
    "oneOf": [QUERY_ACTION, INTERVENTION_ACTION, FINISH_ACTION],
}

_QUERY_RECORD = {
    "type": "object",
    "properties": {
        "drug_id_1": {"type": "string"},
        "drug_id_2": {"type": "string"},
        "severity": {"type": "string", "enum": ["severe", "moderate", "mild", "none"]},
        "recommendation": {"type": "string"},
        "risk_score": {"type": "number"},
        "step_index": {"type": "integer"},
    },
}
OBSERVATION_SCHEMA: dict[str, Any] = {
    "title": "PolypharmacyObservation",
    "type": "object",
    "properties": {
        "episode_id": {"type": "string"},
        "task_id": {"type": "string", "enum": list(TASKS)},
        "patient_id": {"type": "string"},
        "catalog": {"type": "string"},
        "age": {"type": "integer"},
        "sex": {"type": "string"},
        "conditions": {"type": "array", "items": {"type": "string"}},
        "eGFR_category": {"type": "string"},
        "liver_function_category": {"type": "string"},
        "current_medications": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "drug_id": {"type": "string"},
                    "generic_name": {"type": "string"},
                    "atc_class": {"type": "string"},
                    "dose_mg": {"type": "number"},
                    "frequency": {"type": "string"},
                    "route": {"type": "string"},
                    "is_high_risk_elderly": {"type": "boolean"},
                    "is_critical": {"type": "boolean"},
                    "beers_flags": {"type": "array", "items": {"type": "string"}},
                    "anticholinergic_score": {"type": "integer"},
                    "monitored": {"type": "boolean"},
                },
            },
        },
        "interaction_queries": {"type": "array", "items": _QUERY_RECORD},
        "interventions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "target_drug_id": {"type": "string"},
                    "action_type": {"type": "string", "enum": list(INTERVENTION_TYPES)},
                    "proposed_new_drug_id": {"type": "string", "nullable": True},
                    "rationale": {"type": "string"},
                    "step_index": {"type": "integer"},
                    "risk_delta": {"type": "number"},
                },
            },
        },
        "step_index": {"type": "integer"},
        "max_steps": {"type": "integer"},
        "remaining_query_budget": {"type": "integer", "minimum": 0},
        "remaining_intervention_budget": {"type": "integer", "minimum": 0},
        "shaped_reward": {"type": "number"},
        "raw_reward": {"type": "number"},
        "last_action_error": {"type": "string", "nullable": True},
        "last_query_result": {**_QUERY_RECORD, "nullable": True},
        "current_risk": {"type": "number", "minimum": 0, "maximum": 1},
        "baseline_risk": {"type": "number", "minimum": 0, "maximum": 1},
        "grader_score": {"type": "number", "nullable": True},
        "terminated": {"type": "boolean"},
        "truncated": {"type": "boolean"},
    },
}
STATE_SCHEMA: dict[str, Any] = {
    "title": "PolypharmacyState",
    "type": "object",
    "properties": {
        "episode_id": {"type": "string", "nullable": True},
        "step_count": {"type": "integer", "minimum": 0},
        "task_id": {"type": "string", "nullable": True},
        "patient_id": {"type": "string", "nullable": True},
        "catalog": {"type": "string", "nullable": True},
        "max_steps": {"type": "integer"},
        "remaining_query_budget": {"type": "integer"},
        "remaining_intervention_budget": {"type": "integer"},
        "num_queries": {"type": "integer"},
        "num_interventions": {"type": "integer"},
        "done": {"type": "boolean"},
        "grader_score": {"type": "number", "nullable": True},
    },
    "required": ["episode_id", "step_count"],
}
