"""The observation (DESIGN §3.3) and state, typed, with plain-dict forms for JSON.

Records are frozen and shared between successive observations, so building an observation
per step copies references, not data (the reference deep-copied pydantic models every step).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class MedicationEntry:
    drug_id: str
    generic_name: str
    atc_class: str
    dose_mg: float
    frequency: str
    route: str
    is_high_risk_elderly: bool
    is_critical: bool
    beers_flags: tuple[str, ...]
    anticholinergic_score: int
    monitored: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "drug_id": self.drug_id,
            "generic_name": self.generic_name,
            "atc_class": self.atc_class,
            "dose_mg": self.dose_mg,
            "frequency": self.frequency,
            "route": self.route,
            "is_high_risk_elderly": self.is_high_risk_elderly,
            "is_critical": self.is_critical,
            "beers_flags": list(self.beers_flags),
            "anticholinergic_score": self.anticholinergic_score,
            "monitored": self.monitored,
        }


@dataclass(frozen=True, slots=True)
class InteractionQuery:
    drug_id_1: str
    drug_id_2: str
    severity: str  # severe | moderate | mild | none
    recommendation: str
    risk_score: float
    step_index: int  # the 1-based index of the step that made the query

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class InterventionRecord:
    target_drug_id: str
    action_type: str
    proposed_new_drug_id: str | None  # for substitutions, the drug actually put in place
    rationale: str
    step_index: int
    risk_delta: float  # risk before minus risk after (positive: the intervention helped)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Observation:
    episode_id: str
    task_id: str
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
    step_index: int
    max_steps: int
    remaining_query_budget: int
    remaining_intervention_budget: int
    shaped_reward: float  # the wire reward: raw_reward clamped to [0.001, 0.999]
    raw_reward: float
    last_action_error: str | None
    last_query_result: InteractionQuery | None
    current_risk: float
    baseline_risk: float
    grader_score: float | None  # set exactly when the episode is done
    terminated: bool
    truncated: bool

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the ``observation`` object on the wire."""
        return {
            "episode_id": self.episode_id,
            "task_id": self.task_id,
            "patient_id": self.patient_id,
            "catalog": self.catalog,
            "age": self.age,
            "sex": self.sex,
            "conditions": list(self.conditions),
            "eGFR_category": self.eGFR_category,
            "liver_function_category": self.liver_function_category,
            "current_medications": [m.to_dict() for m in self.current_medications],
            "interaction_queries": [q.to_dict() for q in self.interaction_queries],
            "interventions": [i.to_dict() for i in self.interventions],
            "step_index": self.step_index,
            "max_steps": self.max_steps,
            "remaining_query_budget": self.remaining_query_budget,
            "remaining_intervention_budget": self.remaining_intervention_budget,
            "shaped_reward": self.shaped_reward,
            "raw_reward": self.raw_reward,
            "last_action_error": self.last_action_error,
            "last_query_result": self.last_query_result.to_dict() if self.last_query_result else None,
            "current_risk": self.current_risk,
            "baseline_risk": self.baseline_risk,
            "grader_score": self.grader_score,
            "terminated": self.terminated,
            "truncated": self.truncated,
        }


@dataclass(frozen=True, slots=True)
class State:
    episode_id: str | None
    step_count: int
    task_id: str | None = None
    patient_id: str | None = None
    catalog: str | None = None
    max_steps: int = 0
    remaining_query_budget: int = 0
    remaining_intervention_budget: int = 0
    num_queries: int = 0
    num_interventions: int = 0
    done: bool = False
    grader_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
