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

The vector and the mask are then the adapter's own functions (``envcore.gym_env.encode_vector``
and ``encode_mask``) on that state: only the replay is written here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envcore.catalog import Catalog, pair_key
from envcore.gym_env import (
    FINISH_ACTION, MAX_SLOTS, N_QUERY, PAIR_INDEX, SlotState, encode_mask, encode_vector, new_pair_state, record_query,
)
from envcore.contract import INTERVENTION_TYPES
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
    pair_state = new_pair_state()
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
            k = PAIR_INDEX.get((min(i, j), max(i, j)))
            if k is not None:  # None: a slot beyond the adapter's MAX_SLOTS
                record_query(pair_state[k], rec["severity"], rec["recommendation"])
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
                slots[s].reduced = True  # type: ignore[union-attr]  # a recorded intervention's drug is there
            else:
                slots[s].monitored = True  # type: ignore[union-attr]  # as above
    return slots, pair_state


def encode_observation(observation: dict[str, Any], catalog: Catalog) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """(observation vector, action mask, drug id per slot) exactly as ``PolypharmacyGymEnv``
    would give them for this observation: its own functions on the replayed state."""
    slots, pair_state = rebuild_slots(observation, catalog)
    doses = {m["drug_id"]: m["dose_mg"] for m in observation["current_medications"]}
    states: list[SlotState | None] = [
        None if slot is None else (slot.drug_id, doses[slot.drug_id], slot.reduced, slot.monitored) for slot in slots
    ]
    task = TASKS[observation["task_id"]]
    vector = encode_vector(catalog, task, observation, states, pair_state)
    queried = {pair_key(q["drug_id_1"], q["drug_id_2"]) for q in observation["interaction_queries"]}
    mask = encode_mask(
        catalog, states, done=bool(observation.get("terminated") or observation.get("truncated")),
        remaining_queries=observation["remaining_query_budget"],
        remaining_interventions=observation["remaining_intervention_budget"],
        was_queried=lambda a, b: pair_key(a, b) in queried,
    )
    return vector.astype(np.float32), mask, [slot.drug_id if slot is not None else None for slot in slots]


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
        i, j = position.get(action.get("drug_id_1")), position.get(action.get("drug_id_2"))  # type: ignore[arg-type]  # None: not found
        if i is None or j is None or i == j:
            return None
        return PAIR_INDEX.get((min(i, j), max(i, j)))
    if kind == "propose_intervention":
        s = position.get(action.get("target_drug_id"))  # type: ignore[arg-type]  # None: not found
        if s is None or s >= MAX_SLOTS or action.get("intervention_type") not in INTERVENTION_TYPES:
            return None
        return N_QUERY + s * len(INTERVENTION_TYPES) + INTERVENTION_TYPES.index(action["intervention_type"])
    return None
