"""Baseline policies and their evaluation."""

import random
import subprocess
import sys
from pathlib import Path

import pytest

from agents.evaluate import evaluate
from agents.policies import heuristic_policy, random_policy
from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv

ROOT = Path(__file__).resolve().parents[2]
# The reference implementation's heuristic, measured on the classic catalog over seeds 0-99.
REFERENCE = {"easy_screening": 0.775, "budgeted_screening": 0.436, "complex_tradeoff": 0.222}


@pytest.mark.parametrize("task", sorted(REFERENCE))
def test_the_heuristic_scores_at_least_the_reference_on_classic(task):
    result = evaluate(heuristic_policy, task, range(100), "classic")
    assert result.mean >= REFERENCE[task]
    assert result.summary()["invalid_actions"] == 0


@pytest.mark.parametrize("task", sorted(REFERENCE))
def test_the_heuristic_beats_random_on_curated(task):
    heuristic = evaluate(heuristic_policy, task, range(50), "curated")
    rnd = evaluate(random_policy, task, range(50), "curated")
    assert heuristic.mean > rnd.mean + 0.2


@pytest.mark.parametrize("catalog_name", ["classic", "curated"])
def test_the_heuristic_never_stops_a_critical_drug(catalog_name):
    catalog = Catalog.load(catalog_name)
    env = PolypharmacyEnv(catalog)
    for seed in range(60):
        obs = env.reset(seed=seed, task_id="complex_tradeoff")
        rng = random.Random(seed)
        while not obs.done:
            action = heuristic_policy(obs.to_dict(), catalog=catalog, rng=rng)
            if action.get("intervention_type") == "stop":
                assert not catalog.drugs[action["target_drug_id"]].is_critical
            obs = env.step(action)


@pytest.mark.parametrize("catalog_name", ["classic", "curated"])
def test_the_heuristic_never_stops_a_drug_the_patient_needs_for_a_condition(catalog_name):
    catalog = Catalog.load(catalog_name)
    env = PolypharmacyEnv(catalog)
    for task in sorted(REFERENCE):
        for seed in range(40):
            obs = env.reset(seed=seed, task_id=task)
            rng = random.Random(seed)
            while not obs.done:
                action = heuristic_policy(obs.to_dict(), catalog=catalog, rng=rng)
                obs = env.step(action)
            assert env.stopped_needed() == (), (task, seed, obs.interventions)


def test_evaluate_gives_per_episode_results_and_mean_and_std():
    result = evaluate(random_policy, "easy_screening", range(10), "classic").to_dict()
    assert len(result["per_episode"]) == 10
    assert {"mean_score", "std_score", "mean_risk_reduction", "mean_steps"} <= set(result)
    assert all(0.001 <= e["grader_score"] <= 0.999 for e in result["per_episode"])
    again = evaluate(random_policy, "easy_screening", range(10), "classic").to_dict()
    assert again == result  # seeded: the same seeds give the same episodes


def test_envcore_and_the_baseline_agents_import_nothing_from_django():
    code = (
        "import sys, envcore, envcore.gym_env, agents.policies, agents.evaluate\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
