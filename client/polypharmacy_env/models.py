"""Typed actions, observations and state of a PolypharmacyEnv server.

They mirror what the server publishes at ``GET /schema`` (its one contract, ``envcore/contract.py``
in the server's repository); a test of the server's suite holds the two equal, field by field.
The observation and state accept fields a newer server adds (``extra="allow"``), so an older
client keeps working.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from openenv.core.env_server.types import Action, Observation, State
from pydantic import BaseModel, ConfigDict, Field, model_validator

ActionType = Literal["query_ddi", "propose_intervention", "finish_review"]
InterventionType = Literal["stop", "dose_reduce", "substitute", "add_monitoring"]
TaskId = Literal["easy_screening", "budgeted_screening", "complex_tradeoff"]
Severity = Literal["severe", "moderate", "mild", "none"]

# Which fields each action type takes (the server refuses a value in any other).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "query_ddi": ("drug_id_1", "drug_id_2"),
    "propose_intervention": ("target_drug_id", "intervention_type"),
    "finish_review": (),
}
_OPTIONAL: dict[str, tuple[str, ...]] = {"propose_intervention": ("proposed_new_drug_id", "rationale")}


class PolypharmacyAction(Action):
    """One action, chosen by ``action_type``; the fields another type uses stay None.

    Build one with the constructors: ``PolypharmacyAction.query_ddi(a, b)``,
    ``.propose_intervention(drug, "substitute", new_drug)``, ``.finish_review()``."""

    action_type: ActionType
    drug_id_1: Optional[str] = Field(default=None, min_length=1, max_length=100)
    drug_id_2: Optional[str] = Field(default=None, min_length=1, max_length=100)
    target_drug_id: Optional[str] = Field(default=None, min_length=1, max_length=100)
    intervention_type: Optional[InterventionType] = None
    proposed_new_drug_id: Optional[str] = Field(default=None, min_length=1, max_length=100)
    rationale: Optional[str] = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> "PolypharmacyAction":
        required = _REQUIRED[self.action_type]
        allowed = set(required) | set(_OPTIONAL.get(self.action_type, ()))
        for name in _FIELDS:
            value = getattr(self, name)
            if name in required and value is None:
                raise ValueError(f"{name} is required for action_type {self.action_type}")
            if name not in allowed and value is not None:
                raise ValueError(f"{name} is not used by action_type {self.action_type}")
        return self

    @classmethod
    def query_ddi(cls, drug_id_1: str, drug_id_2: str) -> "PolypharmacyAction":
        return cls(action_type="query_ddi", drug_id_1=drug_id_1, drug_id_2=drug_id_2)

    @classmethod
    def propose_intervention(cls, target_drug_id: str, intervention_type: InterventionType,
                             proposed_new_drug_id: Optional[str] = None,
                             rationale: Optional[str] = None) -> "PolypharmacyAction":
        return cls(action_type="propose_intervention", target_drug_id=target_drug_id,
                   intervention_type=intervention_type, proposed_new_drug_id=proposed_new_drug_id,
                   rationale=rationale)

    @classmethod
    def finish_review(cls) -> "PolypharmacyAction":
        return cls(action_type="finish_review")

    def to_wire(self) -> dict[str, Any]:
        """The action as the server takes it: its type and the fields it sets."""
        return self.model_dump(exclude_none=True, exclude={"metadata"})


_FIELDS = tuple(name for name in PolypharmacyAction.model_fields if name not in ("action_type", "metadata"))


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class MedicationEntry(_Record):
    drug_id: str
    generic_name: str
    atc_class: str = Field(description="ATC level 4: the substitution class.")
    dose_mg: float
    frequency: str
    route: str
    is_high_risk_elderly: bool
    is_critical: bool = Field(description="Stopping it without a substitute is penalised.")
    beers_flags: list[str]
    anticholinergic_score: int
    monitored: bool


class InteractionQuery(_Record):
    drug_id_1: str
    drug_id_2: str
    severity: Severity
    recommendation: str
    risk_score: float
    step_index: int


class InterventionRecord(_Record):
    target_drug_id: str
    action_type: InterventionType
    proposed_new_drug_id: Optional[str]
    rationale: str
    step_index: int
    risk_delta: float


class PolypharmacyObservation(Observation):
    """What the agent sees after a reset or a step (``done`` and ``reward`` come from the
    answer's top level, as OpenEnv's observations carry them)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    episode_id: str
    task_id: TaskId
    patient_id: str
    catalog: str
    age: int
    sex: str
    conditions: list[str]
    eGFR_category: str
    liver_function_category: str
    current_medications: list[MedicationEntry]
    interaction_queries: list[InteractionQuery]
    interventions: list[InterventionRecord]
    step_index: int
    max_steps: int
    remaining_query_budget: int
    remaining_intervention_budget: int
    shaped_reward: float = Field(description="The wire reward: raw_reward clamped to [0.001, 0.999].")
    raw_reward: float
    last_action_error: Optional[str]
    last_query_result: Optional[InteractionQuery]
    current_risk: float
    baseline_risk: float
    grader_score: Optional[float] = Field(description="Set exactly when the episode is done.")
    terminated: bool
    truncated: bool


class PolypharmacyState(State):
    """The episode's state (``GET /state``, the WebSocket ``state`` frame)."""

    task_id: Optional[TaskId] = None
    patient_id: Optional[str] = None
    catalog: Optional[str] = None
    max_steps: int = 0
    remaining_query_budget: int = 0
    remaining_intervention_budget: int = 0
    num_queries: int = 0
    num_interventions: int = 0
    done: bool = False
    grader_score: Optional[float] = None
