"""The full-information planner (agents.oracle) and the normalised score (agents.normalised).

The planner's claim is that it is an upper bound in practice: these tests hold it to exhaustive
search where that is feasible, to a brute force without the state merging on the smallest
patients, to the heuristic on every seed, and they check that it plays as an agent exactly the
plan it found, from any state another agent left. Pure Python: no database."""

from __future__ import annotations

import random
from itertools import product

import pytest

from agents.evaluate import evaluate
from agents.normalised import References, normalise_evaluation, references
from agents.oracle import OraclePolicy, Typed, candidate_interventions, plan, replay
from agents.policies import heuristic_policy, random_policy
from agents.registry import builtin_agent, resolve_agent
from envcore.contract import FinishReview
from envcore.env import PolypharmacyEnv

CATALOGS = ("classic", "curated")
SEEDS = range(10000, 10012)


def small_patients(catalog: str, task: str, max_drugs: int, count: int) -> list[int]:
    env = PolypharmacyEnv(catalog)
    found = []
    for seed in range(10000, 10400):
        if len(env.reset(seed=seed, task_id=task).current_medications) <= max_drugs:
            found.append(seed)
            if len(found) == count:
                break
    return found


@pytest.mark.slow
@pytest.mark.parametrize("catalog", CATALOGS)
@pytest.mark.parametrize("task,max_drugs,count", [("easy_screening", 5, 12), ("budgeted_screening", 7, 4)])
def test_the_beam_matches_exhaustive_search_on_small_patients(catalog, task, max_drugs, count):
    env = PolypharmacyEnv(catalog)
    seeds = small_patients(catalog, task, max_drugs, count)
    assert len(seeds) == count
    for seed in seeds:
        env.reset(seed=seed, task_id=task)
        assert plan(env, width=16).score == pytest.approx(plan(env, exhaustive=True).score, abs=1e-12), seed


def _brute_force(env: PolypharmacyEnv) -> float:
    """The best grade over every sequence of valid interventions, without merging any states."""
    best = env.fork().step(FinishReview(action_type="finish_review")).grader_score
    assert best is not None  # a finished review is graded
    for act in list(candidate_interventions(env)):
        child = env.fork()
        if child.step(act).last_action_error is None and not child.done:
            best = max(best, _brute_force(child))
    return best


@pytest.mark.parametrize("catalog", CATALOGS)
def test_exhaustive_search_equals_a_brute_force_without_merging(catalog):
    env = PolypharmacyEnv(catalog)
    for seed in small_patients(catalog, "easy_screening", 4, 4):
        env.reset(seed=seed, task_id="easy_screening")
        assert plan(env, exhaustive=True).score == pytest.approx(_brute_force(env), abs=1e-12)


def test_no_query_placement_beats_the_planners_one_query_on_budgeted_screening():
    """The planner makes one query, of an interacting pair, as early as possible. Try every
    placement of one extra query (of every pair) into its plan: none scores higher."""
    env = PolypharmacyEnv("classic")
    seed = small_patients("classic", "budgeted_screening", 6, 1)[0]
    env.reset(seed=seed, task_id="budgeted_screening")
    found = plan(env)
    assert sum(a.action_type == "query_ddi" for a in found.actions) == 1
    assert env.observation is not None
    drugs = [m.drug_id for m in env.observation.current_medications]
    pairs = [(a, b) for a, b in product(drugs, drugs) if a < b]
    interventions = [a for a in found.actions if a.action_type == "propose_intervention"]
    for at, (a, b) in product(range(len(interventions) + 1), pairs):
        trial = env.fork()
        actions: list[Typed | dict[str, str]] = [
            *interventions[:at], {"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b},
            *interventions[at:], {"action_type": "finish_review"}]
        for action in actions:
            obs = trial.step(action)
        assert obs.grader_score is not None and obs.grader_score <= found.score + 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("catalog", CATALOGS)
@pytest.mark.parametrize("task", ["easy_screening", "budgeted_screening", "complex_tradeoff"])
def test_the_oracle_agent_plays_its_plan_and_outscores_the_baselines(catalog, task):
    seeds = SEEDS if task != "complex_tradeoff" else range(10000, 10004)
    oracle = evaluate(OraclePolicy(), task, seeds, catalog)
    heuristic = evaluate(heuristic_policy, task, seeds, catalog)
    env = PolypharmacyEnv(catalog)
    planned = []
    for seed in seeds:
        env.reset(seed=seed, task_id=task)
        planned.append(plan(env).score)
    assert oracle.scores == planned
    assert oracle.summary()["invalid_actions"] == 0
    for mine, theirs in zip(oracle.scores, heuristic.scores):
        assert mine >= theirs - 1e-12
    assert evaluate(OraclePolicy(), task, seeds, catalog).scores == oracle.scores  # deterministic


def test_it_replans_from_wherever_another_agent_left_the_episode():
    env = PolypharmacyEnv("curated")
    rng, oracle, checked = random.Random(3), OraclePolicy(width=8), 0
    for seed in range(40):
        obs = env.reset(seed=seed, task_id="complex_tradeoff")
        for _ in range(4):  # random steps: queries, interventions, refused actions
            obs = env.step(random_policy(obs.to_dict(), catalog=env.catalog, rng=rng))
            if obs.done:
                break
        if obs.done:
            continue
        copy = replay(obs.to_dict(), env.catalog)
        assert copy.medication_slots() == env.medication_slots()
        assert copy.observation is not None and copy.observation.step_index == obs.step_index
        assert copy.remaining_query_budget == env.remaining_query_budget
        expected = plan(env, width=8).score
        while not obs.done:
            obs = env.step(oracle(obs.to_dict(), catalog=env.catalog, rng=rng))
        assert obs.grader_score == pytest.approx(expected, abs=1e-12)
        checked += 1
    assert checked >= 5


def test_a_wider_beam_never_scores_lower():
    env = PolypharmacyEnv("classic")
    for seed in range(10000, 10003):
        env.reset(seed=seed, task_id="complex_tradeoff")
        narrow, wide = plan(env, width=1).score, plan(env, width=16).score
        assert wide >= narrow


def test_the_registry_names_the_oracle_with_its_width():
    policy, label = resolve_agent("oracle")
    assert isinstance(policy, OraclePolicy) and policy.width == 16 and label == "oracle:16"
    assert resolve_agent(" oracle:4 ")[1] == "oracle:4"
    for bad in ("oracle:0", "oracle:x", "oracle:-1", "oracle:65", "oracle:"):
        if bad == "oracle:":
            assert builtin_agent(bad)  # an empty width is the default
            continue
        with pytest.raises(ValueError, match="width must be a whole number from 1 to 64"):
            resolve_agent(bad)
        with pytest.raises(ValueError):
            builtin_agent(bad)
    assert builtin_agent("heuristic") and builtin_agent("llm") and not builtin_agent("policy:x")


def test_the_normalised_score_is_zero_at_random_and_one_at_the_oracle():
    seeds = range(10000, 10010)
    refs = references("classic", "budgeted_screening", seeds)
    rnd = evaluate(random_policy, "budgeted_screening", seeds, "classic")
    assert refs.random == pytest.approx(rnd.mean) and refs.oracle > refs.random
    assert refs.normalise(refs.random) == 0.0 and refs.normalise(refs.oracle) == pytest.approx(1.0)
    heuristic = normalise_evaluation(evaluate(heuristic_policy, "budgeted_screening", seeds, "classic"), "classic")
    assert 0.0 < heuristic["normalised_score"] < 1.0
    assert heuristic["random_score"] == refs.random and heuristic["oracle_score"] == refs.oracle
    assert References(random=0.5, oracle=0.5, episodes=1).normalise(0.7) is None
