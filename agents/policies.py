"""Baseline policies. Pure Python, no Django: they read the wire observation (a plain dict) and
the public catalog (drug metadata, Beers criteria, substitution classes) — never the interaction
rules, which an agent must discover by querying.

A policy is ``policy(observation: dict, *, catalog: Catalog, rng: random.Random) -> action dict``.
"""

from __future__ import annotations

import random
from itertools import combinations
from typing import Any, Callable, Final, Protocol

from envcore.contract import INTERVENTION_TYPES
from envcore.catalog import Catalog, pair_key
from envcore.risk import BEERS_WEIGHTS, HIGH_RISK_WEIGHT, beers_flags

Action = dict[str, Any]


class Policy(Protocol):
    def __call__(self, observation: dict[str, Any], *, catalog: Catalog, rng: random.Random) -> Action: ...


FINISH: Action = {"action_type": "finish_review"}


def random_policy(observation: dict[str, Any], *, catalog: Catalog, rng: random.Random) -> Action:
    """Uniform over action types, then over drugs of the regimen and intervention types.

    Substitutions name no drug (the environment picks a same-class one). It ignores budgets,
    so it sometimes takes invalid actions, as an untrained agent would."""
    drugs = [m["drug_id"] for m in observation["current_medications"]]
    kind = rng.choice(("query_ddi", "propose_intervention", "finish_review"))
    if kind == "query_ddi" and len(drugs) >= 2:
        a, b = rng.sample(drugs, 2)
        return {"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b}
    if kind == "propose_intervention" and drugs:
        return {
            "action_type": "propose_intervention",
            "target_drug_id": rng.choice(drugs),
            "intervention_type": rng.choice(INTERVENTION_TYPES),
        }
    return dict(FINISH)


# ── heuristic ──────────────────────────────────────────────────────────────
def _flag_weight(flag: str) -> float:
    """The Beers weight of a flag ("avoid", or "dose_adjust_CKD" for a condition-specific one)."""
    for kind in sorted(BEERS_WEIGHTS, key=len, reverse=True):
        if flag == kind or flag.startswith(kind + "_"):
            return BEERS_WEIGHTS[kind]
    return 0.0


def _drug_concern(med: dict[str, Any]) -> float:
    """How suspicious a drug looks before any query: high-risk status and Beers flags."""
    beers = sum(_flag_weight(flag) for flag in med["beers_flags"])
    return (1.0 if med["is_high_risk_elderly"] else 0.0) + beers + 0.25 * min(med.get("anticholinergic_score", 0), 3)


def _pair_concern(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Prior suspicion of a pair: the drugs' own concern, plus half a point when both act on the
    same anatomical-therapeutic group (ATC level 2, e.g. two C09 drugs: additive effects)."""
    same_group = a["atc_class"][:3] == b["atc_class"][:3]
    return _drug_concern(a) + _drug_concern(b) + (0.5 if same_group else 0.0)


def _substitution_rechecks(
    observation: dict[str, Any], meds: dict[str, dict[str, Any]], queried: set[tuple[str, str]]
) -> tuple[str, str] | None:
    """The first unqueried pair (substitute, former partner) for substitutions made because of
    a known interaction."""
    for record in observation["interventions"]:
        new = record["proposed_new_drug_id"]
        if record["action_type"] != "substitute" or new not in meds:
            continue
        for q in observation["interaction_queries"]:
            if q["severity"] not in ("severe", "moderate") or record["target_drug_id"] not in (q["drug_id_1"], q["drug_id_2"]):
                continue
            partner = q["drug_id_2"] if q["drug_id_1"] == record["target_drug_id"] else q["drug_id_1"]
            if partner in meds and pair_key(new, partner) not in queried:
                return new, partner
    return None


def _own_terms(flags: list[str] | tuple[str, ...], high_risk: bool) -> float:
    return sum(_flag_weight(f) for f in flags) + (HIGH_RISK_WEIGHT if high_risk else 0.0)


def _substitute_terms(catalog: Catalog, drug_id: str, regimen: set[str], conditions: list[str]) -> float | None:
    """The lowest own-risk terms among same-class drugs not in the regimen (None: no candidate).
    Interactions of a substitute are unknown before querying, so they count as zero."""
    best = None
    for cand in catalog.same_class(drug_id):
        if cand in regimen:
            continue
        terms = _own_terms(beers_flags(catalog, cand, conditions), catalog.drugs[cand].is_high_risk_elderly)
        best = terms if best is None else min(best, terms)
    return best


def _intervene(drug_id: str, kind: str, rationale: str) -> Action:
    return {
        "action_type": "propose_intervention",
        "target_drug_id": drug_id,
        "intervention_type": kind,
        "rationale": rationale,
    }


def _candidate_interventions(observation: dict[str, Any], catalog: Catalog) -> list[tuple[float, Action]]:
    """Every intervention with its expected risk reduction, from what the agent knows: the drugs'
    Beers flags and high-risk status, and the interactions found by its own queries."""
    meds = {m["drug_id"]: m for m in observation["current_medications"]}
    regimen = set(meds)
    conditions = observation["conditions"]
    known = [
        q for q in observation["interaction_queries"]
        if q["severity"] != "none" and q["drug_id_1"] in meds and q["drug_id_2"] in meds
    ]
    done = {i["target_drug_id"] for i in observation["interventions"]}
    done |= {i["proposed_new_drug_id"] for i in observation["interventions"] if i["proposed_new_drug_id"]}
    seen_pairs: set[tuple[str, str]] = set()
    pairs = []
    for q in known:
        key = pair_key(q["drug_id_1"], q["drug_id_2"])
        if key not in seen_pairs:
            seen_pairs.add(key)
            pairs.append(q)
    out: list[tuple[float, Action]] = []
    for drug_id, med in meds.items():
        if drug_id in done:
            continue
        mine = [q for q in pairs if drug_id in (q["drug_id_1"], q["drug_id_2"])]
        own = _own_terms(med["beers_flags"], med["is_high_risk_elderly"])
        pair_total = sum(q["risk_score"] for q in mine)
        reason = ", ".join(f"{q['severity']} interaction with {q['drug_id_2'] if q['drug_id_1'] == drug_id else q['drug_id_1']}" for q in mine) or "Beers / high-risk drug"
        removed = own + pair_total
        sub = _substitute_terms(catalog, drug_id, regimen, conditions)
        if sub is not None:
            out.append((removed - sub, _intervene(drug_id, "substitute", reason)))
        # Prefer substitution (it keeps the therapy): stop only a drug that is neither critical nor
        # the patient's only treatment of a condition (stopping that earns no risk reduction), and
        # only when the best substitute would bring back a fifth or more of the risk removed.
        needed = med.get("needed_for")  # absent from observations recorded before it existed
        if not med["is_critical"] and not needed and (sub is None or sub >= 0.2 * removed):
            out.append((removed, _intervene(drug_id, "stop", reason)))
        if med["dose_mg"] > catalog.drugs[drug_id].min_dose_mg:
            gain = 0.5 * sum(q["risk_score"] for q in mine if q["recommendation"] == "dose_adjust")
            gain += 0.5 * sum(_flag_weight(f) for f in med["beers_flags"] if f.startswith("dose_adjust"))
            out.append((gain, _intervene(drug_id, "dose_reduce", reason)))
        if not med["monitored"]:
            gain = 0.5 * sum(q["risk_score"] for q in mine if q["recommendation"] == "monitor_closely")
            out.append((gain, _intervene(drug_id, "add_monitoring", reason)))
    return out


def heuristic_policy(observation: dict[str, Any], *, catalog: Catalog, rng: random.Random) -> Action:
    """``heuristic_decide``'s action (the policy signature)."""
    return heuristic_decide(observation, catalog=catalog)[0]


def heuristic_decide(observation: dict[str, Any], *, catalog: Catalog) -> tuple[Action, str]:
    """The heuristic's next action and the rule that chose it (the review page shows it).

    Query the riskiest pairs first, then resolve what was found, then finish.

    Queries: pairs ranked by the summed concern of their drugs (high-risk, Beers-flagged,
    anticholinergic), while budget and steps remain and fewer severe interactions are known than
    interventions are left. Interventions: the one with the largest expected risk reduction,
    severe interactions first, preferring substitution to stopping (a substitute keeps the
    therapy), never stopping a critical drug, or one the patient needs for a condition
    (``needed_for``), without a substitute; on complex_tradeoff only
    when the expected gain outweighs the grader's 0.05 per drug change."""
    meds = {m["drug_id"]: m for m in observation["current_medications"]}
    queries = observation["interaction_queries"]
    steps_left = observation["max_steps"] - observation["step_index"]
    budget_i = observation["remaining_intervention_budget"]
    severe_known = {
        pair_key(q["drug_id_1"], q["drug_id_2"]) for q in queries
        if q["severity"] == "severe" and q["drug_id_1"] in meds and q["drug_id_2"] in meds
    }
    can_query = observation["remaining_query_budget"] > 0 and steps_left > budget_i + 1
    queried = {pair_key(q["drug_id_1"], q["drug_id_2"]) for q in queries}
    if can_query:
        # A substitute may interact like the drug it replaced (class effects): check it against
        # the partners of the interactions that motivated the switch before anything else.
        recheck = _substitution_rechecks(observation, meds, queried)
        if recheck is not None:
            return ({"action_type": "query_ddi", "drug_id_1": recheck[0], "drug_id_2": recheck[1]},
                    "A substitute may interact like the drug it replaced: check it against that drug's partner.")
    if can_query and len(severe_known) < budget_i:
        ranked = sorted(
            (pair for pair in combinations(sorted(meds), 2) if pair_key(*pair) not in queried),
            key=lambda p: (-_pair_concern(meds[p[0]], meds[p[1]]), p),
        )
        if ranked:
            a, b = ranked[0]
            return ({"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b},
                    f"The unasked pair that looks riskiest before querying (high-risk status, Beers flags, "
                    f"anticholinergic burden, same ATC group), while fewer severe interactions are known "
                    f"({len(severe_known)}) than interventions are left ({budget_i}).")

    if budget_i > 0 and steps_left > 1:
        initial = len(meds) + sum(1 for i in observation["interventions"] if i["action_type"] == "stop")
        scale = initial * max(observation["baseline_risk"], 1e-9)  # absolute terms → share of baseline
        severe_drugs = {d for key in severe_known for d in key}
        ranked_actions = []
        for gain, action in _candidate_interventions(observation, catalog):
            relative = gain / scale
            if observation["task_id"] == "complex_tradeoff" and action["intervention_type"] in ("stop", "substitute"):
                relative -= 0.05  # the grader's cost of a drug change
            if relative > 0.01:
                ranked_actions.append(((action["target_drug_id"] in severe_drugs, relative), action))
        if ranked_actions:
            (severe, relative), action = max(ranked_actions, key=lambda item: item[0])
            why = "a drug of a known severe interaction first; " if severe else ""
            return action, (f"The intervention with the largest expected risk reduction ({why}about {relative:.0%} "
                            "of the baseline risk), preferring a substitute to stopping and never stopping a "
                            "critical drug without one.")
        return dict(FINISH), "No intervention is expected to lower the risk by more than 1 % of the baseline."
    if budget_i <= 0:
        return dict(FINISH), "The intervention budget is spent: nothing is left to do but finish."
    return dict(FINISH), "Only the finish fits in the steps left."


# The heuristic as the review page's suggester, in its form, its API and its audit records, and
# what the LLM suggester falls back to: the name a pharmacist reads.
RULE_BASED: Final = "rule-based"

POLICIES: dict[str, Callable[..., Action]] = {
    "random": random_policy,
    "heuristic": heuristic_policy,
}
