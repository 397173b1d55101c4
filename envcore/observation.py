"""The observation (DESIGN §3.3) and state: frozen, slotted dataclasses, typed for the wire.

These classes are the contract's definition of what a client sees. pydantic derives their JSON
schema, validator and serializer from the annotations (the adapters at the end of this module),
so nothing here is written twice. They stay stdlib dataclasses rather than pydantic models
because one is built per step: a dataclass costs a third of a validated model's construction,
and the environment's throughput is part of the contract too (bench/env_throughput.py).

Records are frozen and shared between successive observations, so building an observation
per step copies references, not data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

Severity = Literal["severe", "moderate", "mild", "none"]
Recommendation = Literal["avoid_combination", "dose_adjust", "monitor_closely", "no_action"]
InterventionType = Literal["stop", "dose_reduce", "substitute", "add_monitoring"]
TaskId = Literal["easy_screening", "budgeted_screening", "complex_tradeoff"]
Risk = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]


class _Wire:
    """``to_dict``: the JSON-ready form, by the type's pydantic serializer."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _ADAPTERS[type(self)].dump_python(self, mode="json")
        return data


@dataclass(frozen=True, slots=True)
class MedicationEntry(_Wire):
    drug_id: str
    generic_name: str
    atc_class: Annotated[str, Field(description="ATC level 4: the substitution class.")]
    dose_mg: float
    frequency: str
    route: str
    is_high_risk_elderly: bool
    is_critical: Annotated[bool, Field(description="Stopping it without a substitute is penalised.")]
    beers_flags: tuple[str, ...]
    anticholinergic_score: Count
    monitored: bool
    needed_for: Annotated[tuple[str, ...], Field(description=(
        "The patient's conditions this drug is the only treatment of its kind for "
        "(envcore.indications): stopping it without a substitute earns no risk reduction."))]



@dataclass(frozen=True, slots=True)
class InteractionQuery(_Wire):
    drug_id_1: str
    drug_id_2: str
    severity: Severity
    recommendation: str
    risk_score: float
    step_index: Annotated[int, Field(ge=1, description="The 1-based index of the step that made the query.")]



@dataclass(frozen=True, slots=True)
class InterventionRecord(_Wire):
    target_drug_id: str
    action_type: InterventionType
    proposed_new_drug_id: Annotated[str | None, Field(description="For substitutions, the drug put in place.")]
    rationale: str
    step_index: Annotated[int, Field(ge=1)]
    risk_delta: Annotated[float, Field(description="Risk before minus risk after (positive: it helped).")]
    # Defaulted, so snapshots taken before it existed still restore.
    left_untreated: Annotated[tuple[str, ...], Field(description=(
        "For a stop: the conditions it left without their treatment; its risk still counts."))] = ()



@dataclass(frozen=True, slots=True)
class Observation(_Wire):
    episode_id: str
    task_id: TaskId
    patient_id: str
    catalog: str
    age: int
    sex: str
    conditions: tuple[str, ...]
    eGFR_category: str
    liver_function_category: str
    current_medications: tuple[MedicationEntry, ...]
    interaction_queries: tuple[InteractionQuery, ...]
    interventions: tuple[InterventionRecord, ...]
    step_index: Count
    max_steps: int
    remaining_query_budget: Count
    remaining_intervention_budget: Count
    shaped_reward: Annotated[float, Field(description="The wire reward: raw_reward clamped to [0.001, 0.999].")]
    raw_reward: float
    last_action_error: str | None
    last_query_result: InteractionQuery | None
    current_risk: Risk
    baseline_risk: Risk
    grader_score: Annotated[float | None, Field(description="Set exactly when the episode is done.")]
    terminated: bool
    truncated: bool

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated



@dataclass(frozen=True, slots=True)
class State(_Wire):
    episode_id: str | None
    step_count: Count
    task_id: TaskId | None = None
    patient_id: str | None = None
    catalog: str | None = None
    max_steps: int = 0
    remaining_query_budget: int = 0
    remaining_intervention_budget: int = 0
    num_queries: int = 0
    num_interventions: int = 0
    done: bool = False
    grader_score: float | None = None



# pydantic's serializers (and, through ``envcore.contract``, the JSON schemas) of these types.
OBSERVATION = TypeAdapter(Observation)
STATE = TypeAdapter(State)
_ADAPTERS: dict[type, TypeAdapter[Any]] = {
    MedicationEntry: TypeAdapter(MedicationEntry),
    InteractionQuery: TypeAdapter(InteractionQuery),
    InterventionRecord: TypeAdapter(InterventionRecord),
    Observation: OBSERVATION,
    State: STATE,
}
