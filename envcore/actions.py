"""Actions (DESIGN §3.2): a typed form and a strict parser for plain dicts.

Schema errors (unknown fields, wrong types, an unknown action or intervention type, a missing
required field) raise ``ValidationError`` naming the field: the API answers them with 422 and no
step is taken. Well-formed actions that the environment refuses (a drug outside the regimen, an
exhausted budget) are not parse errors: they are steps with the invalid-action penalty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from envcore.errors import ValidationError

ACTION_TYPES = ("query_ddi", "propose_intervention", "finish_review")
INTERVENTION_TYPES = ("stop", "dose_reduce", "substitute", "add_monitoring")
MAX_ID_LENGTH = 100
MAX_RATIONALE_LENGTH = 2000

# Fields each action type uses, and which of them are required.
_FIELDS: dict[str, dict[str, bool]] = {
    "query_ddi": {"drug_id_1": True, "drug_id_2": True},
    "propose_intervention": {
        "target_drug_id": True,
        "intervention_type": True,
        "proposed_new_drug_id": False,
        "rationale": False,
    },
    "finish_review": {},
}
_ALL_FIELDS = {name for spec in _FIELDS.values() for name in spec} | {"action_type", "metadata"}


@dataclass(frozen=True, slots=True)
class Action:
    action_type: str
    drug_id_1: str | None = None
    drug_id_2: str | None = None
    target_drug_id: str | None = None
    intervention_type: str | None = None
    proposed_new_drug_id: str | None = None
    rationale: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The plain form, without unset fields (what the API stores in a Step row)."""
        out: dict[str, Any] = {"action_type": self.action_type}
        for name in _FIELDS[self.action_type]:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def query(drug_id_1: str, drug_id_2: str) -> Action:
    return Action("query_ddi", drug_id_1=drug_id_1, drug_id_2=drug_id_2)


def intervene(target: str, kind: str, new_drug: str | None = None, rationale: str | None = None) -> Action:
    return Action(
        "propose_intervention",
        target_drug_id=target,
        intervention_type=kind,
        proposed_new_drug_id=new_drug,
        rationale=rationale,
    )


FINISH = Action("finish_review")


def parse_action(data: Any) -> Action:
    """Validate a plain action and return the typed form. Raises ``ValidationError``."""
    if isinstance(data, Action):
        return data
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"action must be a JSON object, got {type(data).__name__}.", field="action"
        )
    action_type = data.get("action_type")
    if action_type is None:
        raise ValidationError(
            f"action.action_type is required; expected one of {', '.join(ACTION_TYPES)}.",
            field="action.action_type",
        )
    if action_type not in ACTION_TYPES:
        raise ValidationError(
            f"Unknown action_type {action_type!r}; expected one of {', '.join(ACTION_TYPES)}.",
            field="action.action_type",
        )
    spec = _FIELDS[action_type]
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name == "action_type":
            continue
        if name not in _ALL_FIELDS:
            raise ValidationError(f"Unknown field {name!r} in action.", field=f"action.{name}")
        if name == "metadata":
            # OpenEnv's base Action carries a metadata dict; accept and ignore it.
            if value is not None and not isinstance(value, Mapping):
                raise ValidationError("action.metadata must be an object.", field="action.metadata")
            continue
        if name not in spec:
            # Flat clients (like the reference's) send every field, unused ones as null
            # (intervention_type as "none"); a non-null value there is a client bug.
            if value is None or (name == "intervention_type" and value == "none"):
                continue
            raise ValidationError(
                f"Field {name!r} is not used by action_type {action_type!r}.", field=f"action.{name}"
            )
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValidationError(
                f"action.{name} must be a string, got {type(value).__name__}.", field=f"action.{name}"
            )
        limit = MAX_RATIONALE_LENGTH if name == "rationale" else MAX_ID_LENGTH
        if len(value) > limit:
            raise ValidationError(
                f"action.{name} is longer than {limit} characters.", field=f"action.{name}"
            )
        values[name] = value
    for name, required in spec.items():
        if required and not values.get(name):
            raise ValidationError(
                f"action.{name} is required for action_type {action_type!r}.", field=f"action.{name}"
            )
    kind = values.get("intervention_type")
    if kind is not None and kind not in INTERVENTION_TYPES:
        raise ValidationError(
            f"Unknown intervention_type {kind!r}; expected one of {', '.join(INTERVENTION_TYPES)}.",
            field="action.intervention_type",
        )
    return Action(action_type, **values)
