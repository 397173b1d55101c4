"""Why the environment refuses a well-formed action, as pure functions of what an observation
shows (the regimen with doses and monitoring, the budgets) and the catalog.

The environment (``PolypharmacyEnv.refusal`` and its steps) and the LLM suggester
(``agents.llm.action_refusal``, which has only the wire observation) both call these, so the
rules and their messages exist once. A refusal is ``(field, message)``: the action field at
fault (``action_type`` for an exhausted budget) and the step's ``last_action_error``.
"""

from __future__ import annotations

from collections.abc import Container, Mapping

from envcore.catalog import Catalog
from envcore.regimen import Med

Refusal = tuple[str, str]


def query_refusal(drug_id_1: str, drug_id_2: str, *, regimen: Container[str], remaining_queries: int) -> Refusal | None:
    """Why ``query_ddi`` of the two drugs would be refused, or None."""
    if drug_id_1 == drug_id_2:
        return "drug_id_2", "query_ddi needs two different drugs (drug_id_1 equals drug_id_2)."
    for name, drug_id in (("drug_id_1", drug_id_1), ("drug_id_2", drug_id_2)):
        if drug_id not in regimen:
            return name, f"{name} {drug_id!r} is not in the current regimen."
    if remaining_queries <= 0:
        return "action_type", "Query budget exhausted."
    return None


def intervention_refusal(target: str, intervention_type: str, proposed: str | None, *, meds: Mapping[str, Med],
                         remaining_interventions: int, catalog: Catalog) -> Refusal | None:
    """Why ``propose_intervention`` would be refused, or None. ``meds``: the current regimen by
    drug id."""
    if remaining_interventions <= 0:
        return "action_type", "Intervention budget exhausted."
    med = meds.get(target)
    if med is None or target not in catalog.drugs:
        return "target_drug_id", f"target_drug_id {target!r} is not in the current regimen."
    min_dose = catalog.drugs[target].min_dose_mg
    if intervention_type == "dose_reduce" and med.dose_mg <= min_dose:
        return "intervention_type", f"{target} is already at its minimum dose ({min_dose:g} mg)."
    if intervention_type == "add_monitoring" and med.monitored:
        return "intervention_type", f"{target} is already monitored."
    if intervention_type == "substitute":
        return substitute_refusal(target, proposed, regimen=meds, catalog=catalog)
    return None


def substitute_refusal(target: str, proposed: str | None, *, regimen: Container[str], catalog: Catalog) -> Refusal | None:
    """Why substituting ``proposed`` (None: the environment's choice) for ``target`` would be
    refused. With no drug named, the fault is the target's: no drug of its class is free."""
    drug = catalog.drugs[target]
    if proposed is None:
        if not any(candidate not in regimen for candidate in catalog.same_class(target)):
            return "target_drug_id", f"No substitute of the same class ({drug.atc_class}) is available for {target}."
        return None
    new = catalog.drugs.get(proposed)
    if new is None:
        return "proposed_new_drug_id", f"proposed_new_drug_id {proposed!r} is not a known drug."
    if proposed == target:
        return "proposed_new_drug_id", "proposed_new_drug_id must differ from target_drug_id."
    if new.atc_class != drug.atc_class:
        return "proposed_new_drug_id", (
            f"proposed_new_drug_id {proposed} (class {new.atc_class}) is not in the same "
            f"therapeutic class as {target} ({drug.atc_class})."
        )
    if proposed in regimen:
        return "proposed_new_drug_id", f"proposed_new_drug_id {proposed} is already in the regimen."
    return None
