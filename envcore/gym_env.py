"""A Gymnasium adapter: discrete actions, an action mask, a fixed-size numeric observation.

Action space (``Discrete(166)`` with the default 15 slots):
  [0, 105)    query the pair of medication slots (i, j), i < j, in ``PAIRS`` order
  [105, 165)  intervene on slot s with type t: 105 + 4·s + t, t in INTERVENTION_TYPES order
              (a substitution lets the environment pick the safest same-class drug)
  165         finish the review
Slots are the starting regimen's order and stay stable (a substitute takes its original's slot,
a stopped drug leaves its slot empty), so an index means the same drug all episode long.

``info["action_mask"]`` (and ``action_masks()``, the same as booleans: the method sb3-contrib's
MaskablePPO looks for) marks actions that can change something: queries of present, not yet
queried pairs while budget remains; interventions that are possible (a substitute exists, the dose
is above its minimum, the drug is not yet monitored); finish always. Masked actions still run and
get the invalid-action penalty (or, for a repeated query, no bonus).

``info`` has the same keys at every step, the reset's included (Minari's DataCollector and
vector envs require it): ``action_mask`` and ``grader_score`` (0.0 until the episode ends, then
the grade, which is never below 0.001; not NaN, which no two infos would compare equal with, and
Gymnasium's ``check_env`` compares them).

Registered with Gymnasium per task and catalog by ``envcore.gym_registry`` (on ``import envcore``).

The reward is ``raw_reward`` (unclamped), which is what a learner should optimise.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import gymnasium as gym
import numpy as np

from envcore.contract import FINISH, INTERVENTION_TYPES, intervene, query
from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from envcore.risk import BEERS_WEIGHTS
from envcore.scenarios import TASKS

MAX_SLOTS = 15
PAIRS: tuple[tuple[int, int], ...] = tuple(combinations(range(MAX_SLOTS), 2))
N_QUERY = len(PAIRS)
N_INTERVENE = MAX_SLOTS * len(INTERVENTION_TYPES)
FINISH_ACTION = N_QUERY + N_INTERVENE
N_ACTIONS = FINISH_ACTION + 1

SEVERITY_CODES = {"none": 1, "mild": 2, "moderate": 3, "severe": 4}  # 0: not queried
RECOMMENDATION_CODES = {"avoid_combination": 0, "dose_adjust": 1, "monitor_closely": 2}
SLOT_FEATURES = 10
PAIR_FEATURES = 5 + 3
TASK_IDS = tuple(TASKS)
EGFR = ("normal", "mild", "moderate", "severe")
LIVER = ("normal", "impaired", "severe")
GLOBAL_FEATURES = 8 + len(TASK_IDS) + len(EGFR) + len(LIVER)
OBS_SIZE = MAX_SLOTS * SLOT_FEATURES + N_QUERY * PAIR_FEATURES + GLOBAL_FEATURES
PAIR_INDEX = {pair: k for k, pair in enumerate(PAIRS)}  # slot pair (i < j) → its query action
# Where the patient's age sits in the vector (the 8th global feature, see ``_encode``): the
# researchers' export leaves demographics out, so it zeroes this one.
AGE_FEATURE = MAX_SLOTS * SLOT_FEATURES + N_QUERY * PAIR_FEATURES + 7


def adapter_spaces() -> tuple[gym.spaces.Box, gym.spaces.Discrete[np.int64]]:
    """(observation space, action space), new objects each call (a space carries its own RNG)."""
    return gym.spaces.Box(0.0, 1.0, shape=(OBS_SIZE,), dtype=np.float32), gym.spaces.Discrete(N_ACTIONS)


def decode_action(index: int, slots: list[str | None]) -> Any:
    """The envcore action for a discrete index, given the episode's slots."""

    def slot_drug(s: int) -> str:
        # An empty slot names no drug in the regimen: the environment refuses it (penalty).
        drug = slots[s] if s < len(slots) else None
        return drug if drug is not None else f"EMPTY_SLOT_{s}"

    if index < N_QUERY:
        i, j = PAIRS[index]
        return query(slot_drug(i), slot_drug(j))
    if index < FINISH_ACTION:
        slot, kind = divmod(index - N_QUERY, len(INTERVENTION_TYPES))
        return intervene(slot_drug(slot), INTERVENTION_TYPES[kind])
    return FINISH


class PolypharmacyGymEnv(gym.Env[np.ndarray, np.int64]):
    """``gymnasium.Env`` over ``PolypharmacyEnv``. ``task_id`` fixes the task (None: default)."""

    metadata = {"render_modes": []}

    def __init__(self, catalog: Catalog | str = "curated", task_id: str | None = None) -> None:
        self.env = PolypharmacyEnv(catalog)
        self.task_id = task_id
        self.observation_space, self.action_space = adapter_spaces()
        self._pair_state = np.zeros((N_QUERY, PAIR_FEATURES), dtype=np.float32)

    # ── gymnasium API ──────────────────────────────────────────────────────
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        # Draw the patient seed from the adapter's RNG so a seeded adapter replays its episodes.
        patient_seed = options.get("patient_seed")
        if patient_seed is None and options.get("patient_id") is None:
            patient_seed = int(self.np_random.integers(0, 2**31 - 1))
        self.env.reset(
            seed=patient_seed,
            task_id=options.get("task_id", self.task_id),
            patient_id=options.get("patient_id"),
            episode_id=options.get("episode_id"),
        )
        self._pair_state[:] = 0.0
        self._pair_state[:, 0] = 1.0
        return self._encode(), self._info()

    def step(self, action: int | np.integer[Any]) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        slots = self.env.medication_slots()
        obs = self.env.step(decode_action(int(action), slots))
        if obs.last_query_result is not None and int(action) < N_QUERY:
            self._record_query(int(action), obs.last_query_result.severity, obs.last_query_result.recommendation)
        return self._encode(), float(obs.raw_reward), obs.terminated, obs.truncated, self._info()

    # ── encoding ───────────────────────────────────────────────────────────
    def _record_query(self, index: int, severity: str, recommendation: str) -> None:
        row = self._pair_state[index]
        row[:5] = 0.0
        row[SEVERITY_CODES.get(severity, 1)] = 1.0
        code = RECOMMENDATION_CODES.get(recommendation)
        if code is not None:
            row[5 + code] = 1.0

    def _slot_features(self, out: np.ndarray) -> None:
        catalog = self.env.catalog
        patient = self.env.patient
        assert patient is not None
        conditions = set(patient.conditions)
        known_severe = np.zeros(MAX_SLOTS, dtype=np.float32)
        for k, (i, j) in enumerate(PAIRS):
            weight = 1.0 if self._pair_state[k, 4] else 0.5 if self._pair_state[k, 3] else 0.0
            if weight:
                known_severe[i] = max(known_severe[i], weight)
                known_severe[j] = max(known_severe[j], weight)
        for s in range(min(MAX_SLOTS, len(self.env.medication_slots()))):
            state = self.env.slot_state(s)
            if state is None:
                continue
            drug_id, dose, reduced, monitored = state
            drug = catalog.drugs[drug_id]
            beers = sum(
                BEERS_WEIGHTS[c.criterion_type]
                for c in catalog.beers_by_drug.get(drug_id, ())
                if c.condition is None or c.condition in conditions
            )
            out[s] = (
                1.0,
                float(drug.is_high_risk_elderly),
                float(drug.is_critical),
                min(beers, 1.0),
                float(reduced),
                float(monitored),
                min(dose / max(drug.default_dose_mg, 1e-9), 1.0),
                min(drug.anticholinergic_score / 3.0, 1.0),
                float(bool(catalog.same_class(drug_id))),
                known_severe[s],
            )

    def _encode(self) -> np.ndarray:
        env = self.env
        obs = env.observation
        assert obs is not None
        slots = np.zeros((MAX_SLOTS, SLOT_FEATURES), dtype=np.float32)
        self._slot_features(slots)
        task = env.task
        patient = env.patient
        assert patient is not None
        glob = np.zeros(GLOBAL_FEATURES, dtype=np.float32)
        glob[:8] = (
            obs.remaining_query_budget / max(task.query_budget, 1),
            obs.remaining_intervention_budget / max(task.intervention_budget, 1),
            obs.step_index / task.max_steps,
            obs.current_risk,
            obs.baseline_risk,
            min(obs.current_risk / obs.baseline_risk, 2.0) / 2.0 if obs.baseline_risk > 0 else 0.0,
            len(obs.current_medications) / MAX_SLOTS,
            min(max((patient.age - 60) / 40.0, 0.0), 1.0),
        )
        offset = 8
        glob[offset + TASK_IDS.index(task.task_id)] = 1.0
        offset += len(TASK_IDS)
        glob[offset + EGFR.index(patient.eGFR_category)] = 1.0
        offset += len(EGFR)
        glob[offset + LIVER.index(patient.liver_function_category)] = 1.0
        return np.clip(np.concatenate([slots.ravel(), self._pair_state.ravel(), glob]), 0.0, 1.0)

    def action_mask(self) -> np.ndarray:
        env = self.env
        mask = np.zeros(N_ACTIONS, dtype=np.int8)
        mask[FINISH_ACTION] = 1
        if env.done:
            return mask
        slots = env.medication_slots()
        present = [s for s, d in enumerate(slots[:MAX_SLOTS]) if d is not None]
        if env.remaining_query_budget > 0:
            for a_pos, i in enumerate(present):
                for j in present[a_pos + 1:]:
                    if not env.was_queried(slots[i], slots[j]):  # type: ignore[arg-type]  # present: not None
                        mask[PAIR_INDEX[(i, j)]] = 1
        if env.remaining_intervention_budget > 0:
            catalog = env.catalog
            for s in present:
                drug_id, dose, _reduced, monitored = env.slot_state(s)  # type: ignore[misc]  # present: a state
                base = N_QUERY + s * len(INTERVENTION_TYPES)
                mask[base + 0] = 1  # stop
                mask[base + 1] = int(dose > catalog.drugs[drug_id].min_dose_mg)
                mask[base + 2] = int(env.substitute_for(drug_id) is not None)
                mask[base + 3] = int(not monitored)
        return mask

    def action_masks(self) -> np.ndarray:
        """``action_mask()`` as booleans, under the name sb3-contrib's MaskablePPO calls."""
        return self.action_mask().astype(bool)

    def _info(self) -> dict[str, Any]:
        # The same keys at every step (module docstring); a grade only once the episode is done.
        score = self.env.observation.grader_score if self.env.observation is not None else None
        return {"action_mask": self.action_mask(), "grader_score": 0.0 if score is None else float(score)}
