"""The outcome's score breakdown is the grader's formula term by term (held to envcore.graders on
many episodes of every task), the unaddressed pairs are the ones still carrying risk, and the
full-information planner's result is labelled and cached."""

from __future__ import annotations

import random

import pytest

from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from envcore.graders import GRADERS
from envcore.scenarios import TASKS
from reviews import scoring


def random_finished_episode(env: PolypharmacyEnv, rng: random.Random):
    """A patient of a random task, a few random valid actions, and the finish."""
    task = rng.choice(list(TASKS))
    env.reset(seed=rng.randrange(10_000), task_id=task)
    for _ in range(rng.randrange(TASKS[task].max_steps - 1)):
        drugs = [d for d in env.medication_slots() if d is not None]
        if rng.random() < 0.4 and len(drugs) > 1:
            a, b = rng.sample(drugs, 2)
            env.step({"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b})
        else:
            kind = rng.choice(("stop", "dose_reduce", "substitute", "add_monitoring"))
            env.step({"action_type": "propose_intervention", "target_drug_id": rng.choice(drugs), "intervention_type": kind})
        if env.done:
            break
    if not env.done:
        env.step({"action_type": "finish_review"})
    return env


@pytest.mark.parametrize("catalog", ["classic", "curated"])
def test_the_breakdown_adds_up_to_the_graders_score_on_every_task(catalog):
    env = PolypharmacyEnv(catalog)
    rng = random.Random(17)
    seen = set()
    for _ in range(150):
        random_finished_episode(env, rng)
        snapshot = env.snapshot()
        inputs = scoring.grade_inputs(snapshot)
        breakdown = scoring.score_breakdown(snapshot["task_id"], inputs)
        assert breakdown.score == pytest.approx(GRADERS[snapshot["task_id"]](inputs), abs=1e-12)
        assert breakdown.score == pytest.approx(env.observation.grader_score, abs=1e-12)
        seen.add(snapshot["task_id"])
    assert seen == set(TASKS)


def test_every_task_has_its_goal_and_rules():
    for task_id in TASKS:
        brief = scoring.task_brief(task_id)
        assert brief.goal and brief.rules and brief.query_budget == TASKS[task_id].query_budget


def test_the_outcome_lists_a_severe_pair_left_in_the_regimen_and_not_one_removed():
    catalog = Catalog.load("curated")
    env = PolypharmacyEnv(catalog)
    env.reset(patient_id="CUR_E_0001", task_id="easy_screening")  # sotalol + verapamil: severe
    env.step({"action_type": "finish_review"})
    (left,) = [p for p in scoring.unaddressed_pairs(catalog, env.snapshot()) if p.severity == "severe"]
    assert left.names == "sotalol + verapamil" and not left.asked and left.management.startswith("Avoid")

    env.reset(patient_id="CUR_E_0001", task_id="easy_screening")
    env.step({"action_type": "propose_intervention", "target_drug_id": "DRUG_SOTALOL", "intervention_type": "stop"})
    env.step({"action_type": "finish_review"})
    assert not [p for p in scoring.unaddressed_pairs(catalog, env.snapshot()) if "sotalol" in p.names]


def test_a_monitored_pair_of_a_monitor_closely_rule_is_addressed():
    catalog = Catalog.load("curated")
    a, b = next(k for k, r in catalog.rules.items() if r.recommendation == "monitor_closely" and r.severity == "moderate")
    snapshot = {"meds": [[a, 1.0, False, False], [b, 1.0, False, False]], "queries": []}
    assert [p.severity for p in scoring.unaddressed_pairs(catalog, snapshot)] == ["moderate"]
    snapshot["meds"][1][3] = True  # monitored
    assert scoring.unaddressed_pairs(catalog, snapshot) == []


def test_the_planners_result_names_drugs_and_is_planned_once():
    catalog = Catalog.load("curated")
    scoring._planned.cache_clear()
    first = scoring.planner_result(catalog, "CUR_E_0001", "easy_screening")
    again = scoring.planner_result(catalog, "CUR_E_0001", "easy_screening")
    assert first == again and scoring._planned.cache_info().hits == 1
    assert first.label.startswith("oracle:") and first.steps[-1] == "finish the review"
    assert 0 < first.score <= 0.999 and "DRUG_" not in " ".join(first.steps)
