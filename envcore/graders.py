"""Deterministic graders (DESIGN §3.4). Scores are clipped to [0.001, 0.999]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

SCORE_MIN = 0.001
SCORE_MAX = 0.999
_EPS = 1e-8


@dataclass(frozen=True, slots=True)
class GradeInputs:
    baseline_risk: float
    final_risk: float
    risk_deltas: Sequence[float]  # one per recorded intervention
    severe_hit: bool  # a risk-reducing intervention touched a drug of an initial severe pair
    num_queries: int
    discoveries: int  # distinct severe or moderate pairs discovered
    drug_changes: int  # stops and substitutions
    critical_stopped: int  # critical drugs stopped without a substitute


def clip_score(x: float) -> float:
    return max(SCORE_MIN, min(x, SCORE_MAX))


def relative_risk_reduction(baseline: float, final: float) -> float:
    return max(0.0, baseline - final) / max(baseline, _EPS)


def grade_easy_screening(g: GradeInputs) -> float:
    rr = relative_risk_reduction(g.baseline_risk, g.final_risk)
    return clip_score(0.5 * rr + 0.5 * (1.0 if g.severe_hit else 0.0))


def grade_budgeted_screening(g: GradeInputs) -> float:
    rr = relative_risk_reduction(g.baseline_risk, g.final_risk)
    helpful = sum(1 for d in g.risk_deltas if d > 0)
    precision = helpful / len(g.risk_deltas) if g.risk_deltas else 0.0
    efficiency = min(g.discoveries / g.num_queries, 1.0) if g.num_queries else 0.0
    return clip_score(0.5 * rr + 0.3 * precision + 0.2 * efficiency)


def grade_complex_tradeoff(g: GradeInputs) -> float:
    rr = relative_risk_reduction(g.baseline_risk, g.final_risk)
    return clip_score(rr - 0.05 * g.drug_changes - 0.20 * g.critical_stopped)


GRADERS = {
    "easy_screening": grade_easy_screening,
    "budgeted_screening": grade_budgeted_screening,
    "complex_tradeoff": grade_complex_tradeoff,
}
