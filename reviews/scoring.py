"""How a review is scored, for the page: each task's goal and scoring rules, the finished score
broken into the grader's terms (``envcore.graders``), the severe and moderate pairs the final
regimen still carries, and what the full-information planner (``agents.oracle``) would have
done on the same patient.

The breakdown recomputes each grader's formula term by term from the episode's stored grader
inputs; ``reviews/tests/test_scoring.py`` holds it to ``envcore.graders`` on many episodes of
every task, so a change of a grader that is not mirrored here fails there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Mapping

from agents import oracle
from envcore.catalog import Catalog, pair_key
from envcore.env import PolypharmacyEnv
from envcore.graders import GradeInputs, clip_score, relative_risk_reduction
from envcore.scenarios import TASKS
from reviews.clinical import MANAGEMENT, action_text, drug_name

# The graders' weights, as envcore.graders writes them.
RULES: dict[str, list[str]] = {
    "easy_screening": [
        "0.5 × the relative risk reduction, (baseline risk − final risk) ÷ baseline risk;",
        "+ 0.5 when an intervention that lowered the risk touched a drug of a severe pair present at the start.",
    ],
    "budgeted_screening": [
        "0.5 × the relative risk reduction;",
        "+ 0.3 × precision: the share of interventions that lowered the risk;",
        "+ 0.2 × query efficiency: distinct severe or moderate pairs found ÷ queries made (at most 1).",
    ],
    "complex_tradeoff": [
        "the relative risk reduction;",
        "− 0.05 for each drug stopped or substituted;",
        "− 0.20 for each critical drug stopped without a substitute.",
    ],
}
CLIP_NOTE = "The score is kept between 0.001 and 0.999. Reaching the step limit ends the review and grades it as it stands."


@dataclass(frozen=True)
class TaskBrief:
    task_id: str
    title: str
    goal: str
    rules: list[str]
    query_budget: int
    intervention_budget: int
    max_steps: int
    note: str = CLIP_NOTE


def task_brief(task_id: str) -> TaskBrief:
    task = TASKS[task_id]
    return TaskBrief(task_id, task_id.replace("_", " "), task.description, RULES[task_id], task.query_budget,
                     task.intervention_budget, task.max_steps)


# ── the score, term by term ────────────────────────────────────────────────
@dataclass(frozen=True)
class Term:
    label: str
    detail: str
    value: float  # what the term adds to the score (negative: a penalty)


@dataclass(frozen=True)
class Breakdown:
    terms: list[Term]
    unclipped: float
    score: float


def grade_inputs(snapshot: Mapping[str, Any]) -> GradeInputs:
    """The grader's inputs as the episode's stored snapshot holds them (envcore.env._grade)."""
    return GradeInputs(
        baseline_risk=snapshot["baseline_risk"], final_risk=snapshot["risk"],
        risk_deltas=[i["risk_delta"] for i in snapshot["interventions"]], severe_hit=snapshot["severe_hit"],
        num_queries=len(snapshot["queries"]), discoveries=snapshot["discoveries"],
        drug_changes=snapshot["drug_changes"], critical_stopped=snapshot["critical_stopped"],
    )


def score_breakdown(task_id: str, g: GradeInputs) -> Breakdown:
    rr = relative_risk_reduction(g.baseline_risk, g.final_risk)
    rr_detail = f"risk {g.baseline_risk:.3f} → {g.final_risk:.3f}: {rr:.1%} lower"
    if task_id == "easy_screening":
        terms = [Term("0.5 × relative risk reduction", rr_detail, 0.5 * rr),
                 Term("0.5 × a severe pair treated", "yes" if g.severe_hit else "no: no risk-lowering intervention on a drug of a severe pair",
                      0.5 if g.severe_hit else 0.0)]
    elif task_id == "budgeted_screening":
        helpful = sum(1 for d in g.risk_deltas if d > 0)
        precision = helpful / len(g.risk_deltas) if g.risk_deltas else 0.0
        efficiency = min(g.discoveries / g.num_queries, 1.0) if g.num_queries else 0.0
        terms = [Term("0.5 × relative risk reduction", rr_detail, 0.5 * rr),
                 Term("0.3 × precision", f"{helpful} of {len(g.risk_deltas)} interventions lowered the risk", 0.3 * precision),
                 Term("0.2 × query efficiency", f"{g.discoveries} severe or moderate pairs found in {g.num_queries} queries",
                      0.2 * efficiency)]
    elif task_id == "complex_tradeoff":
        terms = [Term("relative risk reduction", rr_detail, rr),
                 Term("− 0.05 per drug changed", f"{g.drug_changes} stopped or substituted", -0.05 * g.drug_changes),
                 Term("− 0.20 per critical drug stopped", f"{g.critical_stopped} stopped without a substitute",
                      -0.20 * g.critical_stopped)]
    else:
        raise ValueError(f"Unknown task {task_id!r}")
    unclipped = sum(t.value for t in terms)
    return Breakdown(terms, unclipped, clip_score(unclipped))


# ── what the final regimen still carries ───────────────────────────────────
@dataclass(frozen=True)
class OpenPair:
    names: str
    severity: str
    management: str
    asked: bool


def unaddressed_pairs(catalog: Catalog, snapshot: Mapping[str, Any]) -> list[OpenPair]:
    """Severe and moderate pairs of the final regimen whose risk nothing lowered: neither drug
    removed, nor (for a dose_adjust pair) a dose reduced, nor (monitor_closely) monitored."""
    meds = [m for m in snapshot["meds"] if m is not None]
    asked = {pair_key(q["drug_id_1"], q["drug_id_2"]) for q in snapshot["queries"]}
    out = []
    for a, b in combinations(meds, 2):
        # A Med is stored as [drug_id, dose_mg, dose_reduced, monitored].
        rule = catalog.rule(a[0], b[0])
        if rule is None or rule.severity not in ("severe", "moderate"):
            continue
        if rule.recommendation == "dose_adjust" and (a[2] or b[2]):
            continue
        if rule.recommendation == "monitor_closely" and (a[3] or b[3]):
            continue
        out.append(OpenPair(f"{drug_name(catalog, a[0])} + {drug_name(catalog, b[0])}", rule.severity,
                            MANAGEMENT.get(rule.recommendation, rule.recommendation), pair_key(a[0], b[0]) in asked))
    out.sort(key=lambda p: (p.severity != "severe", p.names))
    return out


# ── the full-information planner ───────────────────────────────────────────
@dataclass(frozen=True)
class PlannerResult:
    steps: list[str]
    score: float
    label: str


@functools.lru_cache(maxsize=256)
def _planned(catalog: Catalog, patient_id: str, task_id: str) -> tuple[tuple[dict[str, Any], ...], float]:
    # Up to two seconds on a complex_tradeoff patient: planned once per catalog version, patient
    # and task in each process (the catalog's content hash is part of the key).
    env = PolypharmacyEnv(catalog)
    env.reset(patient_id=patient_id, task_id=task_id)
    found = oracle.plan(env)
    return tuple(a.to_dict() for a in found.actions), found.score


def planner_result(catalog: Catalog, patient_id: str, task_id: str) -> PlannerResult:
    """The planner's plan for this patient from the start of the review, and its score."""
    actions, score = _planned(catalog, patient_id, task_id)
    return PlannerResult([action_text(catalog, a) for a in actions], score, f"{oracle.LABEL}:{oracle.DEFAULT_WIDTH}")
