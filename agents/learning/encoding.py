"""``PolypharmacyGymEnv``'s observation encoding and action mask, rebuilt from the wire
observation (a plain dict) and the public catalog alone, and a wire action's discrete index.

The adapter encodes from the environment's internal state; a checkpoint used as an agent only sees
the wire observation. Everything needed is there or in the catalog:

- slots: the starting regimen is the patient's ``medication_ids`` (public patient record, in the
  catalog), replayed through the ``interventions`` (stop empties a slot, substitute puts
  ``proposed_new_drug_id`` in the target's slot, dose_reduce / add_monitoring set the flags);
- pair features: the ``interaction_queries`` replayed in step order with the slots as they were at
  that step (the adapter indexes a query by slot pair and keeps the row when a slot's drug changes);
- the rest: budgets, risks, step, age, eGFR, liver, task — fields of the observation.

No interaction rule is read: a substitution is possible when a same-class drug is not in the regimen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envcore.catalog import Catalog, pair_key
from envcore.gym_env import (
    EGFR, FINISH_ACTION, GLOBAL_FEATURES, LIVER, MAX_SLOTS, N_ACTIONS, N_QUERY, PAIR_FEATURES, PAIR_INDEX, PAIRS,
    RECOMMENDATION_CODES, SEVERITY_CODES, SLOT_FEATURES, TASK_IDS,
)
from envcore.contract import INTERVENTION_TYPES
from envcore.risk import BEERS_WEIGHTS
from envcore.scenarios import TASKS


class _Slot:
    __slots__ = ("drug_id", "reduced", "monitored")

    def __init__(self, drug_id: str) -> None:
        self.drug_id = drug_id
        self.reduced = False
        self.monitored = False


def rebuild_slots(observation: dict[str, Any], catalog: Catalog) -> tuple[list[_Slot | None], np.ndarray]:
    """(slots as they are now, pair-state rows) from the patient's starting regimen, replaying
    queries and interventions in step order."""
    patient = catalog.patients[observation["patient_id"]]
    slots: list[_Slot | None] = [_Slot(d) for d in patient.medication_ids]
    pair_state = np.zeros((N_QUERY, PAIR_FEATURES), dtype=np.float32)
    pair_state[:, 0] = 1.0
    events = [(q["step_index"], 0, q) for q in observation["interaction_queries"]]
    events += [(i["step_index"], 1, i) for i in observation["interventions"]]
    events.sort(key=lambda e: (e[0], e[1]))

    def slot_of(drug_id: str) -> int | None:
        for s, slot in enumerate(slots):
            if slot is not None and slot.drug_id == drug_id:
                return s
        return None

    for _step, kind, rec in events:
        if kind == 0:
            i, j = slot_of(rec["drug_id_1"]), slot_of(rec["drug_id_2"])
            if i is None or j is None:
                continue
            i, j = min(i, j), max(i, j)
            k = PAIR_INDEX.get((i, j))
            if k is None:  # a slot beyond the adapter's MAX_SLOTS
                continue
            row = pair_state[k]
            row[:5] = 0.0
            row[SEVERITY_CODES.get(rec["severity"], 1)] = 1.0
            code = RECOMMENDATION_CODES.get(rec["recommendation"])
            if code is not None:
                row[5 + code] = 1.0
        else:
            s = slot_of(rec["target_drug_id"])
            if s is None:
                continue
            kind_i = rec["action_type"]
            if kind_i == "stop":
                slots[s] = None
            elif kind_i == "substitute":
                slots[s] = _Slot(rec["proposed_new_drug_id"])
            elif kind_i == "dose_reduce":
                slots[s].reduced = True  # type: ignore[union-attr]
            else:
                slots[s].monitored = True  # type: ignore[union-attr]
    return slots, pair_state


def encode_observation(observation: dict[str, Any], catalog: Catalog) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """(observation vector, action mask, drug id per slot) exactly as ``PolypharmacyGymEnv``
    would give them for this observation."""
    slots, pair_state = rebuild_slots(observation, catalog)
    meds = {m["drug_id"]: m for m in observation["current_medications"]}
    conditions = set(observation["conditions"])
    task = TASKS[observation["task_id"]]

    known_severe = np.zeros(MAX_SLOTS, dtype=np.float32)
    for k, (i, j) in enumerate(PAIRS):
        weight = 1.0 if pair_state[k, 4] else 0.5 if pair_state[k, 3] else 0.0
        if weight:
            known_severe[i] = max(known_severe[i], weight)
            known_severe[j] = max(known_severe[j], weight)
    slot_feats = np.zeros((MAX_SLOTS, SLOT_FEATURES), dtype=np.float32)
    for s in range(min(MAX_SLOTS, len(slots))):
        slot = slots[s]
        if slot is None:
            continue
        drug = catalog.drugs[slot.drug_id]
        dose = meds[slot.drug_id]["dose_mg"]
        beers = sum(
            BEERS_WEIGHTS[c.criterion_type]
            for c in catalog.beers_by_drug.get(slot.drug_id, ())
            if c.condition is None or c.condition in conditions
        )
        slot_feats[s] = (
            1.0,
            float(drug.is_high_risk_elderly),
            float(drug.is_critical),
            min(beers, 1.0),
            float(slot.reduced),
            float(slot.monitored),
            min(dose / max(drug.default_dose_mg, 1e-9), 1.0),
            min(drug.anticholinergic_score / 3.0, 1.0),
            float(bool(catalog.same_class(slot.drug_id))),
            known_severe[s],
        )
    glob = np.zeros(GLOBAL_FEATURES, dtype=np.float32)
    cur, base = observation["current_risk"], observation["baseline_risk"]
    glob[:8] = (
        observation["remaining_query_budget"] / max(task.query_budget, 1),
        observation["remaining_intervention_budget"] / max(task.intervention_budget, 1),
        observation["step_index"] / task.max_steps,
        cur,
        base,
        min(cur / base, 2.0) / 2.0 if base > 0 else 0.0,
        len(observation["current_medications"]) / MAX_SLOTS,
        min(max((observation["age"] - 60) / 40.0, 0.0), 1.0),
    )
    offset = 8
    glob[offset + TASK_IDS.index(task.task_id)] = 1.0
    offset += len(TASK_IDS)
    glob[offset + EGFR.index(observation["eGFR_category"])] = 1.0
    offset += len(EGFR)
    glob[offset + LIVER.index(observation["liver_function_category"])] = 1.0
    vector = np.clip(np.concatenate([slot_feats.ravel(), pair_state.ravel(), glob]), 0.0, 1.0)

    mask = np.zeros(N_ACTIONS, dtype=np.int8)
    mask[FINISH_ACTION] = 1
    done = observation.get("terminated") or observation.get("truncated")
    ids = [slot.drug_id if slot is not None else None for slot in slots]
    if not done:
        present = [s for s, d in enumerate(ids[:MAX_SLOTS]) if d is not None]
        queried = {pair_key(q["drug_id_1"], q["drug_id_2"]) for q in observation["interaction_queries"]}
        if observation["remaining_query_budget"] > 0:
            for pos, i in enumerate(present):
                for j in present[pos + 1:]:
                    if pair_key(ids[i], ids[j]) not in queried:  # type: ignore[arg-type]
                        mask[PAIR_INDEX[(i, j)]] = 1
        if observation["remaining_intervention_budget"] > 0:
            regimen = {d for d in ids if d is not None}
            for s in present:
                slot = slots[s]
                assert slot is not None
                base_a = N_QUERY + s * len(INTERVENTION_TYPES)
                mask[base_a + 0] = 1
                mask[base_a + 1] = int(meds[slot.drug_id]["dose_mg"] > catalog.drugs[slot.drug_id].min_dose_mg)
                mask[base_a + 2] = int(any(c not in regimen for c in catalog.same_class(slot.drug_id)))
                mask[base_a + 3] = int(not slot.monitored)
    return vector.astype(np.float32), mask, ids


def action_index(action: dict[str, Any], slots: list[str | None]) -> int | None:
    """The adapter's discrete index for a wire action (``decode_action``'s inverse), or None when
    the action names a drug outside the regimen or a slot beyond ``MAX_SLOTS``. A substitution
    maps to "substitute slot s" whatever drug it named: the adapter's substitution lets the
    environment pick the safest one."""
    kind = action.get("action_type")
    if kind == "finish_review":
        return FINISH_ACTION
    position = {d: s for s, d in enumerate(slots) if d is not None}
    if kind == "query_ddi":
        i, j = position.get(action.get("drug_id_1")), position.get(action.get("drug_id_2"))  # type: ignore[arg-type]
        if i is None or j is None or i == j:
            return None
        return PAIR_INDEX.get((min(i, j), max(i, j)))
    if kind == "propose_intervention":
        s = position.get(action.get("target_drug_id"))  # type: ignore[arg-type]
        if s is None or s >= MAX_SLOTS or action.get("intervention_type") not in INTERVENTION_TYPES:
            return None
        return N_QUERY + s * len(INTERVENTION_TYPES) + INTERVENTION_TYPES.index(action["intervention_type"])
    return None
