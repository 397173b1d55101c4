"""The full-information planner ("oracle"): the ceiling that scores are normalised against.

**It reads the catalog's interaction rules**, which every other agent here must discover by
querying, and it plans by replaying the environment itself (``PolypharmacyEnv.fork``). It is an
upper bound for comparison, not a reviewer anyone could follow; every label, table and page that
shows it says "full information".

Why the search is over interventions only: the environment is deterministic given the patient,
and queries change nothing but the query budget, the step count and the discovery count. Only
budgeted_screening's grader reads discoveries (efficiency = discoveries / queries, capped at 1),
so a plan is best served by exactly one query, of an interacting (severe or moderate) pair, made
at the first point of the plan where such a pair is in the regimen; easy_screening and
complex_tradeoff plans make none. Every plan fits the step limit (at most one query, five
interventions and the finish, against limits of 10, 20 and 30 steps). What remains to choose is
the sequence of interventions, and ``plan`` searches it:

- ``beam``: breadth-first over intervention sequences, keeping the ``width`` states whose grade
  if the review finished there is highest; the best state seen at any depth wins (finishing early
  is a plan too).
- ``exhaustive``: every sequence of valid interventions, with states that have the same future
  merged (same regimen, same budget and same grader accumulators). On small patients it is the
  true optimum, and ``bench/baselines.py`` reports any gap between it and the beam.

Deterministic: candidates are generated in slot order and ties broken by the actions' text.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterator

from envcore.catalog import Catalog, pair_key
from envcore.contract import FinishReview, ProposeIntervention, QueryDDI
from envcore.env import PolypharmacyEnv
from envcore.observation import InterventionType
from envcore.regimen import patient_start

DEFAULT_WIDTH = 16
LABEL = "oracle"  # with its width: "oracle:16"; always described as full information
QUERY_TASK = "budgeted_screening"  # the only grader that reads discoveries

Typed = QueryDDI | ProposeIntervention | FinishReview
_FINISH = FinishReview(action_type="finish_review")


@dataclass(frozen=True, slots=True)
class Plan:
    """The actions from the state planned from to the end (the finish included) and the grader
    score they reach."""

    actions: tuple[Typed, ...]
    score: float


class _Node:
    __slots__ = ("env", "actions", "queried", "score")

    def __init__(self, env: PolypharmacyEnv, actions: tuple[Typed, ...], queried: bool) -> None:
        self.env, self.actions, self.queried = env, actions, queried
        self.score = 0.0


def _interacting_pair(env: PolypharmacyEnv) -> tuple[str, str] | None:
    """The first (by ids) severe or moderate pair of the current regimen not yet queried."""
    present = sorted(d for d in env.medication_slots() if d is not None)
    rules = env.catalog.rules
    for i, a in enumerate(present):
        for b in present[i + 1:]:
            rule = rules.get(pair_key(a, b))
            if rule is not None and rule.severity in ("severe", "moderate") and not env.was_queried(a, b):
                return a, b
    return None


def _with_query(node: _Node) -> _Node:
    """On budgeted_screening, the node with its one discovering query made as soon as possible."""
    if node.queried or node.env.task.task_id != QUERY_TASK or node.env.remaining_query_budget <= 0:
        return node
    pair = _interacting_pair(node.env)
    if pair is None:
        return node
    query = QueryDDI(action_type="query_ddi", drug_id_1=pair[0], drug_id_2=pair[1])
    node.env.step(query)
    return _Node(node.env, (*node.actions, query), True)


def _finish_score(env: PolypharmacyEnv) -> float:
    trial = env.fork()
    score = trial.step(_FINISH).grader_score
    assert score is not None
    return score


def candidate_interventions(env: PolypharmacyEnv) -> Iterator[ProposeIntervention]:
    """Every intervention the environment would accept now (``PolypharmacyEnv.refusal`` decides):
    stop, dose_reduce, add_monitoring and each named same-class substitute of every drug."""
    catalog = env.catalog
    for drug_id in env.medication_slots():
        if drug_id is None:
            continue
        unnamed: tuple[InterventionType, ...] = ("stop", "dose_reduce", "add_monitoring")
        options: list[tuple[InterventionType, str | None]] = [(kind, None) for kind in unnamed]
        options += [("substitute", candidate) for candidate in catalog.same_class(drug_id)]
        for kind, new in options:
            act = ProposeIntervention(action_type="propose_intervention", target_drug_id=drug_id,
                                      intervention_type=kind, proposed_new_drug_id=new)
            if env.refusal(act) is None:
                yield act


def _state_key(env: PolypharmacyEnv, queried: bool, severe: frozenset[str]) -> tuple[Any, ...]:
    """Everything a state's future score depends on: the regimen slot by slot, the drugs whose
    risk still counts after a stop (needed ones), the budgets and steps left, whether the
    discovering query is made, and the grader's accumulators
    (interventions made, helpful ones, drug changes, critical drugs stopped, whether a drug of a
    starting severe pair, ``severe``, was treated)."""
    obs = env.observation
    assert obs is not None
    drugs = env.catalog.drugs
    records = obs.interventions
    return (
        tuple(env.slot_states()),
        env.stopped_needed(),
        env.remaining_intervention_budget,
        queried,
        obs.step_index,
        sum(1 for r in records if r.risk_delta > 0),
        sum(1 for r in records if r.action_type in ("stop", "substitute")),
        sum(1 for r in records if r.action_type == "stop" and drugs[r.target_drug_id].is_critical),
        any(r.risk_delta > 0 and r.target_drug_id in severe for r in records),
    )


def _children(node: _Node) -> Iterator[_Node]:
    obs = node.env.observation
    assert obs is not None
    if obs.step_index + 2 > obs.max_steps:  # room for this intervention and the finish
        return
    for act in candidate_interventions(node.env):
        child = node.env.fork()
        after = child.step(act)
        if after.last_action_error is not None or child.done:
            continue
        yield _with_query(_Node(child, (*node.actions, act), node.queried))


def _text(actions: tuple[Typed, ...]) -> str:
    return "|".join(f"{a.action_type}:{getattr(a, 'target_drug_id', '')}:{getattr(a, 'intervention_type', '')}:"
                    f"{getattr(a, 'proposed_new_drug_id', '') or ''}" for a in actions)


def plan(env: PolypharmacyEnv, *, width: int = DEFAULT_WIDTH, exhaustive: bool = False) -> Plan:
    """The best plan found from ``env``'s current state (``env`` itself is not changed)."""
    if env.done:
        raise ValueError("The episode has finished: there is nothing to plan.")
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}.")
    root = _with_query(_Node(env.fork(), (), False))
    root.score = _finish_score(root.env)
    best = root
    frontier = [root]
    assert env.patient is not None
    severe = patient_start(env.catalog, env.patient).severe_drugs
    seen: set[tuple[Any, ...]] = {_state_key(root.env, root.queried, severe)}
    while frontier:
        level: list[_Node] = []
        for node in frontier:
            for child in _children(node):
                key = _state_key(child.env, child.queried, severe)
                if key in seen:
                    continue  # the same future as a state already kept
                seen.add(key)
                child.score = _finish_score(child.env)
                level.append(child)
        level.sort(key=lambda n: (-n.score, len(n.actions), _text(n.actions)))
        for node in level:
            if (node.score, -len(node.actions)) > (best.score, -len(best.actions)):
                best = node
        frontier = level if exhaustive else level[:width]
    return Plan(actions=(*best.actions, _FINISH), score=best.score)


# ── as an agent ────────────────────────────────────────────────────────────
def replay(observation: dict[str, Any], catalog: Catalog) -> PolypharmacyEnv:
    """An environment in the observation's state: its patient reset, then its queries and
    interventions replayed in step order, refused steps stood in for by refused queries."""
    if observation.get("catalog") not in (None, catalog.name):
        raise ValueError(f"The observation is of catalog {observation['catalog']!r}, not {catalog.name!r}.")
    env = PolypharmacyEnv(catalog)
    env.reset(patient_id=observation["patient_id"], task_id=observation["task_id"],
              episode_id=observation.get("episode_id"))
    history: list[tuple[int, Typed]] = []
    for q in observation["interaction_queries"]:
        history.append((q["step_index"], QueryDDI(action_type="query_ddi", drug_id_1=q["drug_id_1"],
                                                  drug_id_2=q["drug_id_2"])))
    for r in observation["interventions"]:
        history.append((r["step_index"], ProposeIntervention(
            action_type="propose_intervention", target_drug_id=r["target_drug_id"],
            intervention_type=r["action_type"], proposed_new_drug_id=r["proposed_new_drug_id"])))
    history.sort(key=lambda item: item[0])
    for index, action in history:
        _pad(env, index - 1)
        env.step(action)
    _pad(env, observation["step_index"])
    return env


def _pad(env: PolypharmacyEnv, step_index: int) -> None:
    """Refused steps up to ``step_index``: what an agent's invalid actions were (they change
    nothing but the step count)."""
    while (env.observation.step_index if env.observation else 0) < step_index:
        slots = [d for d in env.medication_slots() if d is not None]
        drug = slots[0] if slots else "none"
        env.step(QueryDDI(action_type="query_ddi", drug_id_1=drug, drug_id_2=drug))


class OraclePolicy:
    """The planner as a policy (``agents.policies``' signature). It plans once per episode and
    follows the plan; if the observation is not where the plan leads (another agent stepped, or
    a step was refused), it replans from the observed state."""

    def __init__(self, width: int = DEFAULT_WIDTH, *, cache_size: int = 2048) -> None:
        if width < 1:
            raise ValueError(f"The oracle's width must be at least 1, got {width}.")
        self.width = width
        self._next: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._cache_size = cache_size

    @property
    def label(self) -> str:
        return f"{LABEL}:{self.width}"

    def __call__(self, observation: dict[str, Any], *, catalog: Catalog, rng: random.Random) -> dict[str, Any]:
        key = _history_key(observation, catalog)
        action = self._next.get(key)
        if action is None:
            env = replay(observation, catalog)
            found = plan(env, width=self.width)
            for act in found.actions:  # remember the action due at every state along the plan
                assert env.observation is not None
                self._remember(_history_key(env.observation.to_dict(), catalog), act.to_dict())
                if act.action_type != "finish_review":
                    env.step(act)
            action = self._next[key]
        return dict(action)

    def _remember(self, key: tuple[Any, ...], action: dict[str, Any]) -> None:
        self._next[key] = action
        self._next.move_to_end(key)
        while len(self._next) > self._cache_size:
            self._next.popitem(last=False)


def _history_key(observation: dict[str, Any], catalog: Catalog) -> tuple[Any, ...]:
    return (
        catalog.fingerprint, observation["patient_id"], observation["task_id"], observation["step_index"],
        tuple((q["step_index"], q["drug_id_1"], q["drug_id_2"]) for q in observation["interaction_queries"]),
        tuple((r["step_index"], r["target_drug_id"], r["action_type"], r["proposed_new_drug_id"])
              for r in observation["interventions"]),
    )
