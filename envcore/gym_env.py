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

from collections import Counter
from functools import lru_cache, partial
from itertools import combinations
from typing import Any, Callable, Iterable, Mapping, Sequence

import gymnasium as gym
import numpy as np

from envcore.contract import FINISH, INTERVENTION_TYPES, intervene, query
from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from envcore.observation import Observation
from envcore.risk import BEERS_WEIGHTS
from envcore.scenarios import TASKS, TaskConfig

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
# Where the patient's age sits in the vector (the 8th global feature, see ``global_features``): the
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


# ── the encoding, as functions of plain data ────────────────────────────────
# The adapter calls them with the environment's state; agents.learning.encoding calls them with
# the state it rebuilds from a wire observation, so a checkpoint sees exactly what it trained on.
SlotState = tuple[str, float, bool, bool]  # (drug_id, dose_mg, dose_reduced, monitored)


def new_pair_state() -> np.ndarray:
    """The pair features before any query: every pair "not queried"."""
    pair_state = np.zeros((N_QUERY, PAIR_FEATURES), dtype=np.float32)
    pair_state[:, 0] = 1.0
    return pair_state


def record_query(row: np.ndarray, severity: str, recommendation: str) -> None:
    """Write a query's answer into its pair's row (one-hot severity, then recommendation)."""
    row[:5] = 0.0
    row[SEVERITY_CODES.get(severity, 1)] = 1.0
    code = RECOMMENDATION_CODES.get(recommendation)
    if code is not None:
        row[5 + code] = 1.0


_SLOT_END = MAX_SLOTS * SLOT_FEATURES
_PAIR_END = _SLOT_END + N_QUERY * PAIR_FEATURES


def _known_severe(pair_state: np.ndarray) -> list[float]:
    """Per slot: 1 if a queried pair with it was severe, 0.5 if moderate, else 0."""
    known = [0.0] * MAX_SLOTS
    # Only the handful of moderate (column 3) or severe (column 4) rows: a loop over them beats
    # array operations on all 105 rows.
    rows, columns = np.nonzero(pair_state[:, 3:5])
    for k, severe in zip(rows.tolist(), columns.tolist()):
        weight = 1.0 if severe or pair_state[k, 4] > 0 else 0.5
        i, j = PAIRS[k]
        known[i] = max(known[i], weight)
        known[j] = max(known[j], weight)
    return known


class _DrugFeatures(dict[str, tuple[float, ...]]):
    """drug id → the slot features that depend on the drug and the patient's conditions only
    (high risk, critical, Beers weight, anticholinergic load, has a same-class drug at all,
    default dose), filled on first use."""

    def __init__(self, catalog: Catalog, conditions: frozenset[str]) -> None:
        super().__init__()
        self.catalog, self.conditions = catalog, conditions

    def __missing__(self, drug_id: str) -> tuple[float, ...]:
        catalog = self.catalog
        drug = catalog.drugs[drug_id]
        beers = sum(BEERS_WEIGHTS[c.criterion_type] for c in catalog.beers_by_drug.get(drug_id, ())
                    if c.condition is None or c.condition in self.conditions)
        row = (float(drug.is_high_risk_elderly), float(drug.is_critical), min(beers, 1.0),
               min(drug.anticholinergic_score / 3.0, 1.0), float(bool(catalog.same_class(drug_id))),
               max(drug.default_dose_mg, 1e-9))
        self[drug_id] = row
        return row


@lru_cache(maxsize=4096)
def _drug_features(catalog: Catalog, conditions: frozenset[str]) -> _DrugFeatures:
    # One look-up per encoding (the catalog is immutable and hashes by content), not one per slot.
    return _DrugFeatures(catalog, conditions)


def _write_slot_features(out: np.ndarray, catalog: Catalog, slots: Sequence[SlotState | None],
                         pair_state: np.ndarray, conditions: Iterable[str]) -> None:
    """Fill ``out`` (MAX_SLOTS × SLOT_FEATURES, flat), zeros where a slot is empty."""
    features = _drug_features(catalog, frozenset(conditions))
    known_severe = _known_severe(pair_state)
    # One flat list, one assignment: per-row array writes cost more than the features.
    flat: list[float] = []
    for s, state in enumerate(slots[:MAX_SLOTS]):
        if state is None:
            flat += _EMPTY_SLOT
            continue
        drug_id, dose, reduced, monitored = state
        high_risk, critical, beers, anticholinergic, has_substitute, default_dose = features[drug_id]
        flat += (1.0, high_risk, critical, beers, float(reduced), float(monitored), min(dose / default_dose, 1.0),
                 anticholinergic, has_substitute, known_severe[s])
    flat += _EMPTY_SLOT * (MAX_SLOTS - len(slots[:MAX_SLOTS]))
    out[:] = flat


_EMPTY_SLOT = (0.0,) * SLOT_FEATURES


def slot_features(catalog: Catalog, slots: Sequence[SlotState | None], pair_state: np.ndarray,
                  conditions: Iterable[str]) -> np.ndarray:
    """(MAX_SLOTS, SLOT_FEATURES): each present drug's risk flags, dose and what queries found."""
    out = np.empty(MAX_SLOTS * SLOT_FEATURES, dtype=np.float32)
    _write_slot_features(out, catalog, slots, pair_state, conditions)
    return out.reshape(MAX_SLOTS, SLOT_FEATURES)


def _reader(obs: Observation | Mapping[str, Any]) -> Callable[[str], Any]:
    # An Observation and its wire dict have the same field names.
    return obs.get if isinstance(obs, Mapping) else partial(getattr, obs)


_TASK_OFFSET = {task_id: 8 + k for k, task_id in enumerate(TASK_IDS)}
_EGFR_OFFSET = {category: 8 + len(TASK_IDS) + k for k, category in enumerate(EGFR)}
_LIVER_OFFSET = {category: 8 + len(TASK_IDS) + len(EGFR) + k for k, category in enumerate(LIVER)}


def _write_global_features(out: np.ndarray, task: TaskConfig, obs: Observation | Mapping[str, Any]) -> None:
    get = _reader(obs)
    cur, base = get("current_risk"), get("baseline_risk")
    values = [
        get("remaining_query_budget") / max(task.query_budget, 1),
        get("remaining_intervention_budget") / max(task.intervention_budget, 1),
        get("step_index") / task.max_steps,
        cur,
        base,
        min(cur / base, 2.0) / 2.0 if base > 0 else 0.0,
        len(get("current_medications")) / MAX_SLOTS,
        min(max((get("age") - 60) / 40.0, 0.0), 1.0),
    ] + [0.0] * (GLOBAL_FEATURES - 8)
    values[_TASK_OFFSET[task.task_id]] = 1.0
    values[_EGFR_OFFSET[get("eGFR_category")]] = 1.0
    values[_LIVER_OFFSET[get("liver_function_category")]] = 1.0
    out[:] = values  # one write: per-element numpy writes cost more than the features


def global_features(task: TaskConfig, obs: Observation | Mapping[str, Any]) -> np.ndarray:
    """(GLOBAL_FEATURES,): budgets, progress, risks, regimen size, age, task, kidney, liver, from
    the observation (an ``Observation`` or its wire dict)."""
    glob = np.empty(GLOBAL_FEATURES, dtype=np.float32)
    _write_global_features(glob, task, obs)
    return glob


def encode_vector(catalog: Catalog, task: TaskConfig, obs: Observation | Mapping[str, Any],
                  slots: Sequence[SlotState | None], pair_state: np.ndarray) -> np.ndarray:
    """The observation vector (OBS_SIZE float32 in [0, 1])."""
    # Written in place into one array: this runs at every training step.
    encoded = np.empty(OBS_SIZE, dtype=np.float32)
    _write_slot_features(encoded[:_SLOT_END], catalog, slots, pair_state, _reader(obs)("conditions"))
    encoded[_SLOT_END:_PAIR_END] = pair_state.ravel()
    _write_global_features(encoded[_PAIR_END:], task, obs)
    np.clip(encoded, 0.0, 1.0, out=encoded)
    return encoded


@lru_cache(maxsize=1 << MAX_SLOTS)
def _pairs_among(present: int) -> bytes:
    """The query part of the mask (one byte per pair) when the slots whose bits are set in
    ``present`` hold a drug: a regimen changes slots a few times an episode, so this is cached."""
    return bytes(int(bool(present >> i & 1 and present >> j & 1)) for i, j in PAIRS)


def encode_mask(catalog: Catalog, slots: Sequence[SlotState | None], *, done: bool, remaining_queries: int,
                remaining_interventions: int, queried: Iterable[tuple[str, str]]) -> np.ndarray:
    """The action mask (module docstring); ``queried`` holds the queried drug pairs as
    ``pair_key``s. A substitution is possible when a same-class drug is not in the regimen:
    exactly when the environment's own search finds a candidate."""
    # Written into a bytearray and wrapped once: this runs at every training step, and numpy's
    # per-element writes cost more than the whole mask's logic.
    mask = bytearray(N_ACTIONS)
    mask[FINISH_ACTION] = 1
    if done:
        return np.frombuffer(mask, dtype=np.int8)
    slot_of = {state[0]: s for s, state in enumerate(slots[:MAX_SLOTS]) if state is not None}  # the regimen
    if remaining_queries > 0:
        # Every pair of present slots, less the pairs whose drugs were queried (a handful, where
        # the pairs are up to 105).
        mask[:N_QUERY] = _pairs_among(sum(1 << s for s in slot_of.values()))
        for a, b in queried:
            i, j = slot_of.get(a), slot_of.get(b)
            if i is not None and j is not None:
                mask[PAIR_INDEX[(min(i, j), max(i, j))]] = 0
    if remaining_interventions > 0:
        # A class has a free drug when it has more drugs than the regimen holds of it.
        in_regimen = Counter(catalog.drugs[d].atc_class for d in slot_of)
        for drug_id, s in slot_of.items():
            _drug, dose, _reduced, monitored = slots[s]  # type: ignore[misc]  # present: not None
            drug = catalog.drugs[drug_id]
            k = N_QUERY + s * len(INTERVENTION_TYPES)
            mask[k:k + 4] = (1, dose > drug.min_dose_mg, len(catalog.same_class(drug_id)) + 1 > in_regimen[drug.atc_class],
                             not monitored)  # stop, dose_reduce, substitute, add_monitoring
    return np.frombuffer(mask, dtype=np.int8)


class PolypharmacyGymEnv(gym.Env[np.ndarray, np.int64]):
    """``gymnasium.Env`` over ``PolypharmacyEnv``. ``task_id`` fixes the task (None: default)."""

    metadata = {"render_modes": []}

    def __init__(self, catalog: Catalog | str = "curated", task_id: str | None = None) -> None:
        self.env = PolypharmacyEnv(catalog)
        self.task_id = task_id
        self.observation_space, self.action_space = adapter_spaces()
        self._pair_state = new_pair_state()

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
        self._pair_state[:] = new_pair_state()
        return self._observe()

    def step(self, action: int | np.integer[Any]) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        slots = self.env.medication_slots()
        obs = self.env.step(decode_action(int(action), slots))
        if obs.last_query_result is not None and int(action) < N_QUERY:
            result = obs.last_query_result
            record_query(self._pair_state[int(action)], result.severity, result.recommendation)
        vector, info = self._observe()
        return vector, float(obs.raw_reward), obs.terminated, obs.truncated, info

    # ── encoding (the functions above, on the environment's state) ────────
    def _slots(self) -> list[SlotState | None]:
        return self.env.slot_states()

    def _observe(self) -> tuple[np.ndarray, dict[str, Any]]:
        # The slots are read once for the vector and the mask.
        obs = self.env.observation
        assert obs is not None
        slots = self._slots()
        vector = encode_vector(self.env.catalog, self.env.task, obs, slots, self._pair_state)
        # The same keys at every step (module docstring); a grade only once the episode is done.
        score = 0.0 if obs.grader_score is None else float(obs.grader_score)
        return vector, {"action_mask": self._mask(slots), "grader_score": score}

    def _mask(self, slots: list[SlotState | None]) -> np.ndarray:
        env = self.env
        return encode_mask(env.catalog, slots, done=env.done, remaining_queries=env.remaining_query_budget,
                           remaining_interventions=env.remaining_intervention_budget, queried=env.queried_pairs)

    def action_mask(self) -> np.ndarray:
        return self._mask(self._slots())

    def action_masks(self) -> np.ndarray:
        """``action_mask()`` as booleans, under the name sb3-contrib's MaskablePPO calls."""
        return self.action_mask().astype(bool)
