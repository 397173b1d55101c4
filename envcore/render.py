"""An observation as text for a language model: what the LLM suggester (``agents.llm``) builds
its prompt from, what ``GET /render`` answers over the wire and what the TRL environment class
(``client/polypharmacy_env/trl.py``) hands a model being trained. One renderer, so a model
trained on the wire's text is prompted the same way by the review pages' suggester.

The text carries the whole wire observation as JSON (every field: query results, budgets,
interventions, the last error), the same-class substitute candidates of each drug (from the
catalog, which the observation does not carry) and the rules an action must follow. The
suggester's prompt adds the action schema and asks for one JSON action (``prompt_messages``); a
tool-calling model gets the actions as tools instead, so the rendering leaves the schema out.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from envcore.catalog import Catalog
from envcore.contract import action_json_schema

SYSTEM_PROMPT = (
    "You assist a pharmacist with a medication review of an older patient in a research "
    "simulator (not clinical advice). Each turn you propose exactly one next action. "
    "Drug-drug interactions are unknown until queried; queries and interventions are limited "
    "by budgets. Answer with one JSON object that follows the action schema, and nothing else."
)
RULES = (
    "Rules: query_ddi needs two different drug_ids from current_medications and "
    "remaining_query_budget > 0. propose_intervention needs a target_drug_id from "
    "current_medications and remaining_intervention_budget > 0; a substitute's "
    "proposed_new_drug_id must be one of that drug's candidates above (or leave it out to let "
    "the environment choose); dose_reduce only above the minimum dose; add_monitoring only "
    "for a drug not yet monitored. finish_review ends the review."
)


def substitute_candidates(observation: Mapping[str, Any], *, catalog: Catalog) -> dict[str, list[dict[str, str]]]:
    """For each drug of the regimen, the same-class (ATC level 4) drugs not already taken."""
    regimen = {m["drug_id"] for m in observation["current_medications"]}
    out: dict[str, list[dict[str, str]]] = {}
    for drug_id in sorted(regimen):
        out[drug_id] = [
            {"drug_id": cand, "generic_name": catalog.drugs[cand].generic_name}
            for cand in catalog.same_class(drug_id) if cand not in regimen
        ]
    return out


def render_observation(observation: Mapping[str, Any], *, catalog: Catalog) -> str:
    """The observation (the wire's JSON form, ``Observation.to_dict()``) as text: the whole
    observation, the substitute candidates and the rules."""
    return "\n\n".join([
        "Observation (the whole current state of the review, as JSON):",
        json.dumps(observation, sort_keys=True, default=str),
        "Substitute candidates (same ATC level-4 class, not already in the regimen), by drug:",
        json.dumps(substitute_candidates(observation, catalog=catalog), sort_keys=True),
        RULES,
    ])


def prompt_messages(observation: Mapping[str, Any], *, catalog: Catalog) -> list[dict[str, str]]:
    """The LLM suggester's chat messages: the system prompt, and a user message with the
    rendered observation, the action schema and the request for one JSON action."""
    user = "\n\n".join([
        render_observation(observation, catalog=catalog),
        "Action schema (JSON Schema; unknown fields are rejected):",
        json.dumps(action_json_schema(), sort_keys=True),
        "Answer with exactly one JSON action object and no other text.",
    ])
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
