"""Each defect of the reference implementation (DESIGN §3.6) that belongs to the environment,
with a test that fails on the reference's behaviour and passes here."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from envcore.catalog import Catalog
from envcore.errors import CatalogError, ValidationError
from envcore.rewards import INVALID_ACTION_PENALTY
from envcore.tests.conftest import FINISH, intervene, query

ROOT = Path(__file__).resolve().parents[2]


def test_a_query_on_drugs_outside_the_regimen_is_an_invalid_action(env):
    obs = env.reset(patient_id="EP_0001")  # amlodipine, lisinopril, digoxin, furosemide, amiodarone
    assert "DRUG_WARFARIN" not in [m.drug_id for m in obs.current_medications]
    obs = env.step(query("DRUG_NAPROXEN", "DRUG_WARFARIN"))  # a severe pair, but not this patient's
    assert obs.last_action_error and "not in the current regimen" in obs.last_action_error
    assert obs.raw_reward == -INVALID_ACTION_PENALTY
    assert obs.remaining_query_budget == 4
    assert obs.interaction_queries == ()


def test_querying_the_same_severe_pair_again_earns_no_second_bonus(env):
    env.reset(patient_id="EP_0001")
    first = env.step(query("DRUG_AMIODARONE", "DRUG_DIGOXIN"))
    assert first.last_query_result.severity == "severe"
    assert first.raw_reward == pytest.approx(0.035)
    again = env.step(query("DRUG_DIGOXIN", "DRUG_AMIODARONE"))
    assert again.raw_reward == pytest.approx(-0.015)
    assert again.remaining_query_budget == 2


def test_the_drug_missing_from_the_reference_table_is_in_the_catalog_and_counted(env, classic):
    assert classic.drugs["DRUG_AMIODARONE"].atc_class == "C01BD"
    obs = env.reset(patient_id="EP_0001")
    assert "DRUG_AMIODARONE" in [m.drug_id for m in obs.current_medications]
    # The reference skipped it in the medication list but counted its pair in the grader.
    amio = next(m for m in obs.current_medications if m.drug_id == "DRUG_AMIODARONE")
    assert amio.is_high_risk_elderly


def test_a_catalog_with_a_patient_on_an_unknown_drug_is_refused(classic):
    records = classic.to_records()
    records["patients"][0]["medication_ids"].append("DRUG_NOT_THERE")
    with pytest.raises(CatalogError, match="DRUG_NOT_THERE"):
        Catalog.from_records("broken", **records)


def test_a_failed_substitution_costs_a_penalty_but_no_budget_and_is_not_recorded(env):
    env.reset(patient_id="EP_0001")
    obs = env.step(intervene("DRUG_AMIODARONE", "substitute"))  # C01BD has no other drug
    assert obs.last_action_error and "No substitute" in obs.last_action_error
    assert obs.raw_reward == -INVALID_ACTION_PENALTY
    assert obs.remaining_intervention_budget == 2
    assert obs.interventions == ()
    assert [m.drug_id for m in obs.current_medications][-1] == "DRUG_AMIODARONE"


def test_a_substitute_of_another_therapeutic_class_is_refused(env):
    env.reset(patient_id="EP_0001")
    obs = env.step(intervene("DRUG_AMIODARONE", "substitute", new="DRUG_SERTRALINE"))
    assert obs.last_action_error and "same therapeutic class" in obs.last_action_error
    assert obs.remaining_intervention_budget == 2
    assert "DRUG_SERTRALINE" not in [m.drug_id for m in obs.current_medications]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"task_id": "impossible_task"}, "task_id"),
        ({"patient_id": "EP_9999"}, "patient_id"),
        ({"task_id": "easy_screening", "patient_id": "EP_0041"}, "patient_id"),  # another task's
        ({"seed": -1}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"episode_id": ""}, "episode_id"),
    ],
)
def test_a_bad_reset_raises_and_leaves_the_running_episode_intact(env, kwargs, field):
    env.reset(patient_id="EP_0001", episode_id="keep-me")
    env.step(query("DRUG_AMIODARONE", "DRUG_DIGOXIN"))
    before = env.snapshot()
    with pytest.raises(ValidationError) as excinfo:
        env.reset(**kwargs)
    assert excinfo.value.field == field
    assert env.snapshot() == before
    obs = env.step(FINISH)  # the episode goes on
    assert obs.episode_id == "keep-me" and obs.terminated


SCRIPT = """
import json
from envcore.env import PolypharmacyEnv
out = []
for name in ("classic", "curated"):
    env = PolypharmacyEnv(name)
    for seed in range(5):
        obs = env.reset(seed=seed, task_id="complex_tradeoff", episode_id="x")
        drugs = [m.drug_id for m in obs.current_medications]
        for a, b in zip(drugs, drugs[1:]):
            obs = env.step({"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b})
        obs = env.step({"action_type": "propose_intervention", "target_drug_id": drugs[0], "intervention_type": "substitute"})
        obs = env.step({"action_type": "finish_review"})
        out.append(obs.to_dict())
print(json.dumps(out, sort_keys=True))
"""


def test_episodes_are_identical_across_processes_with_different_hash_seeds():
    outputs = []
    for hash_seed in ("0", "4242"):
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            cwd=ROOT,
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == outputs[1]
