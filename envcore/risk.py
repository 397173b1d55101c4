"""Regimen risk (DESIGN §3.4).

Risk = (Σ base_risk_score of interacting pairs + Σ Beers weights of flags that apply
        + 0.05 × high-risk drugs) / the number of drugs at the start of the episode, clipped to [0, 1].

Dividing by the *initial* count fixes the reference, which divided by the current count, so
stopping a harmless drug raised the risk. Dose reduction and monitoring lower risk only when they
answer the problem: each halves the contributions whose recommendation (or Beers type) they address.
A drug stopped without a substitute while the patient needed it (``envcore.indications``) is still
passed in by the environment, so its contributions keep counting: such a stop reduces no risk.
"""

from __future__ import annotations

from typing import Iterable, Protocol, Sequence

from envcore.catalog import Catalog, DDIRule

# Beers weights and the high-risk increment are the reference's constants.
BEERS_WEIGHTS = {"avoid": 0.30, "caution": 0.12, "dose_adjust": 0.10, "avoid_in_condition": 0.25}
HIGH_RISK_WEIGHT = 0.05
MITIGATION_FACTOR = 0.5  # dose_reduce / add_monitoring halve the contributions they address


class Med(Protocol):
    # Read-only: the episode's Med is an immutable NamedTuple.
    @property
    def drug_id(self) -> str: ...
    @property
    def dose_reduced(self) -> bool: ...
    @property
    def monitored(self) -> bool: ...


def beers_flags(catalog: Catalog, drug_id: str, conditions: Iterable[str]) -> tuple[str, ...]:
    """The Beers flags that apply to a drug for this patient, in the reference's wording:
    the criterion type, or ``type_condition`` for condition-specific criteria."""
    conds = set(conditions)
    flags = []
    for crit in catalog.beers_by_drug.get(drug_id, ()):
        if crit.condition is None:
            flags.append(crit.criterion_type)
        elif crit.condition in conds:
            flags.append(f"{crit.criterion_type}_{crit.condition}")
    return tuple(flags)


def drug_risk_terms(catalog: Catalog, med: Med, conditions: frozenset[str]) -> float:
    """A drug's own contribution: its Beers flags and high-risk status."""
    total = 0.0
    for crit in catalog.beers_by_drug.get(med.drug_id, ()):
        if crit.condition is None or crit.condition in conditions:
            weight = BEERS_WEIGHTS[crit.criterion_type]
            if crit.criterion_type == "dose_adjust" and med.dose_reduced:
                weight *= MITIGATION_FACTOR
            total += weight
    drug = catalog.drugs[med.drug_id]
    if drug.is_high_risk_elderly:
        total += HIGH_RISK_WEIGHT
    return total


def _mitigated(rule: DDIRule, a: Med, b: Med) -> float:
    """A pair's contribution: its rule's base risk, halved when the intervention its
    recommendation calls for was made."""
    weight = rule.base_risk_score
    if rule.recommendation == "dose_adjust" and (a.dose_reduced or b.dose_reduced):
        weight *= MITIGATION_FACTOR
    elif rule.recommendation == "monitor_closely" and (a.monitored or b.monitored):
        weight *= MITIGATION_FACTOR
    return weight


def regimen_risk(catalog: Catalog, meds: Sequence[Med], conditions: frozenset[str], initial_count: int) -> float:
    """The regimen's risk in [0, 1]; ``initial_count`` is the number of drugs at reset."""
    if not meds:
        return 0.0
    total = sum(drug_risk_terms(catalog, m, conditions) for m in meds)
    # The pairs in ``combinations(meds, 2)`` order, those without a rule left out: they would add
    # 0.0, which changes no sum, and most pairs have none.
    pairs = 0.0
    interactions = catalog.interactions
    for i, a in enumerate(meds):
        partners = interactions.get(a.drug_id)
        if partners:
            for b in meds[i + 1:]:
                rule = partners.get(b.drug_id)
                if rule is not None:
                    pairs += _mitigated(rule, a, b)
    total += pairs
    return min(max(total / max(initial_count, 1), 0.0), 1.0)
