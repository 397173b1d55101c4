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
        queried=queried,
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


def drug_vocabulary(catalog: Catalog) -> tuple[str, ...]:
    """The pairwise network's drug order (``PolicyConfig.drug_ids``): the catalog's drug ids, sorted."""
    return tuple(sorted(catalog.drugs))


HISTORY_FEATURES = 5
LEARNER_EXTRAS = 2 * MAX_SLOTS + HISTORY_FEATURES  # what the pairwise network reads after the adapter's vector


def _field(item: Any, name: str) -> Any:
    # An observation's records and their wire dicts have the same field names.
    return item[name] if isinstance(item, dict) else getattr(item, name)


def learner_extras(slots: list[str | None], observation: Any, catalog: Catalog, index: dict[str, int]) -> np.ndarray:
    """(LEARNER_EXTRAS,) float32 the pairwise network reads after the adapter's vector, all from
    the observation (an ``Observation`` or its wire dict) and the public catalog:

    - each slot's drug index: 0 for an empty slot, ``index[drug] + 1`` for a drug of the
      vocabulary, ``len(index) + 1`` for one outside it (a drug a curator added after training);
    - 1 where the slot's drug is needed (its medication entry's ``needed_for`` is not empty:
      stopping it earns no risk reduction);
    - what the graders will count of the episode so far, which the adapter's vector forgets once
      a drug has left its slot: drug changes (stops and substitutions) / 5, critical drugs
      stopped / 2, the share of interventions that lowered the risk, discoveries (moderate or
      severe answers) per query, and whether any query discovered."""
    out = np.zeros(LEARNER_EXTRAS, dtype=np.float32)
    unknown = len(index)
    needed = {_field(m, "drug_id") for m in _field(observation, "current_medications") if _field(m, "needed_for")}
    for s, drug in enumerate(slots[:MAX_SLOTS]):
        if drug is not None:
            out[s] = index.get(drug, unknown) + 1
            out[MAX_SLOTS + s] = float(drug in needed)
    records = _field(observation, "interventions")
    kinds = [_field(r, "action_type") for r in records]
    changes = sum(1 for k in kinds if k in ("stop", "substitute"))
    critical = sum(1 for r, k in zip(records, kinds) if k == "stop" and catalog.drugs[_field(r, "target_drug_id")].is_critical)
    helpful = sum(1 for r in records if _field(r, "risk_delta") > 0)
    queries = _field(observation, "interaction_queries")
    discoveries = sum(1 for q in queries if _field(q, "severity") in ("moderate", "severe"))
    out[2 * MAX_SLOTS:] = (min(changes / 5.0, 1.0), min(critical / 2.0, 1.0), helpful / len(records) if records else 0.0,
                           discoveries / len(queries) if queries else 0.0, float(discoveries > 0))
    return out
