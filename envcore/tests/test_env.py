"""The step logic, risk and graders of DESIGN §3.2–3.4."""

import json

import pytest

from envcore.contract import parse_action
from envcore.env import PolypharmacyEnv
from envcore.errors import EpisodeFinishedError, NoEpisodeError, SnapshotError, ValidationError
from envcore.rewards import INVALID_ACTION_PENALTY, TIMEOUT_PENALTY
from envcore.tests.conftest import FINISH, intervene, query


def test_reset_starts_with_the_task_budgets_and_no_score(env):
    obs = env.reset(seed=3, task_id="complex_tradeoff")
    assert (obs.remaining_query_budget, obs.remaining_intervention_budget, obs.max_steps) == (12, 5, 30)
    assert 10 <= len(obs.current_medications) <= 15
    assert obs.step_index == 0 and obs.grader_score is None
    assert not obs.terminated and not obs.truncated
    assert obs.current_risk == obs.baseline_risk


def test_a_seed_picks_the_reference_patient(env, classic):
    import random

    pool = classic.pool("budgeted_screening")
    for seed in (0, 1, 42):
        assert env.reset(seed=seed).patient_id == random.Random(seed).choice(pool)


def test_a_patient_id_alone_runs_that_patients_task(env):
    assert env.reset(patient_id="EP_0081").task_id == "complex_tradeoff"


def test_stopping_a_harmless_drug_does_not_raise_the_risk(env):
    # The reference divided by the current count: removing a risk-free drug raised the risk.
    obs = env.reset(patient_id="EP_0001")
    obs = env.step(intervene("DRUG_AMLODIPINE", "stop"))
    assert obs.current_risk == pytest.approx(obs.baseline_risk)
    assert obs.interventions[0].risk_delta == pytest.approx(0.0)


def test_dose_reduction_halves_dose_adjust_interactions_and_flags(env, classic):
    obs = env.reset(patient_id="EP_0001")
    obs = env.step(intervene("DRUG_AMIODARONE", "dose_reduce"))  # amiodarone+digoxin: dose_adjust 0.8
    amio = next(m for m in obs.current_medications if m.drug_id == "DRUG_AMIODARONE")
    assert amio.dose_mg == 100.0
    rule = classic.rule("DRUG_AMIODARONE", "DRUG_DIGOXIN")
    assert obs.baseline_risk - obs.current_risk == pytest.approx(rule.base_risk_score * 0.5 / 5)


def test_dose_reduction_stops_at_the_minimum_dose(env):
    env.reset(patient_id="EP_0001")
    env.step(intervene("DRUG_AMIODARONE", "dose_reduce"))
    obs = env.step(intervene("DRUG_AMIODARONE", "dose_reduce"))
    assert obs.last_action_error and "minimum dose" in obs.last_action_error
    assert obs.remaining_intervention_budget == 1


def test_monitoring_lowers_risk_only_for_monitor_closely_interactions(env, classic):
    obs = env.reset(patient_id="EP_0001")
    obs = env.step(intervene("DRUG_AMLODIPINE", "add_monitoring"))  # no interaction to watch
    assert obs.interventions[-1].risk_delta == pytest.approx(0.0)
    obs = env.step(intervene("DRUG_FUROSEMIDE", "add_monitoring"))  # digoxin+furosemide: monitor
    rule = classic.rule("DRUG_DIGOXIN", "DRUG_FUROSEMIDE")
    assert obs.interventions[-1].risk_delta == pytest.approx(rule.base_risk_score * 0.5 / 5)


def test_a_substitution_records_the_drug_put_in_place(env):
    env.reset(patient_id="EP_0081")
    obs = env.step(intervene("DRUG_IBUPROFEN", "substitute"))  # M01AE: naproxen in regimen, celecoxib free
    record = obs.interventions[0]
    assert record.proposed_new_drug_id == "DRUG_CELECOXIB"
    assert "DRUG_CELECOXIB" in [m.drug_id for m in obs.current_medications]
    assert "DRUG_IBUPROFEN" not in [m.drug_id for m in obs.current_medications]


def test_an_exhausted_budget_makes_an_invalid_step(env):
    env.reset(patient_id="EP_0001")
    env.step(intervene("DRUG_AMLODIPINE", "add_monitoring"))
    env.step(intervene("DRUG_LISINOPRIL", "add_monitoring"))
    obs = env.step(intervene("DRUG_FUROSEMIDE", "add_monitoring"))
    assert obs.last_action_error == "Intervention budget exhausted."
    assert obs.raw_reward == -INVALID_ACTION_PENALTY and obs.shaped_reward == 0.001


def test_finish_grades_and_ends_the_episode(env):
    env.reset(patient_id="EP_0001")
    env.step(query("DRUG_AMIODARONE", "DRUG_DIGOXIN"))
    env.step(intervene("DRUG_AMIODARONE", "dose_reduce"))
    obs = env.step(FINISH)
    assert obs.terminated and not obs.truncated
    # easy: 0.5·RR + 0.5·[risk-reducing intervention on a severe-pair drug]
    rr = (obs.baseline_risk - obs.current_risk) / obs.baseline_risk
    assert obs.grader_score == pytest.approx(0.5 * rr + 0.5)
    assert obs.raw_reward == obs.grader_score
    with pytest.raises(EpisodeFinishedError):
        env.step(FINISH)


def test_an_episode_that_hits_the_step_limit_is_truncated_with_the_timeout_penalty(env):
    env.reset(patient_id="EP_0001")
    for _ in range(9):
        obs = env.step(query("DRUG_AMLODIPINE", "DRUG_NOT_HERE"))
        assert not obs.truncated
    obs = env.step(query("DRUG_AMLODIPINE", "DRUG_NOT_HERE"))
    assert obs.truncated and not obs.terminated and obs.step_index == 10
    assert obs.grader_score == 0.001
    assert obs.raw_reward == pytest.approx(-INVALID_ACTION_PENALTY - TIMEOUT_PENALTY + 0.001)


def test_complex_grader_penalises_stopping_a_critical_drug(env):
    obs = env.reset(patient_id="EP_0081")
    obs = env.step(intervene("DRUG_WARFARIN", "stop"))  # critical, and B01AA has no substitute
    obs = env.step(FINISH)
    rr = (obs.baseline_risk - obs.current_risk) / obs.baseline_risk
    assert obs.grader_score == pytest.approx(max(0.001, rr - 0.05 - 0.20))


@pytest.mark.parametrize(
    "action, field",
    [
        ("finish_review", "action"),
        ({}, "action.action_type"),
        ({"action_type": "explode"}, "action.action_type"),
        ({"action_type": "query_ddi", "drug_id_1": "A"}, "action.drug_id_2"),
        ({"action_type": "query_ddi", "drug_id_1": "A", "drug_id_2": 3}, "action.drug_id_2"),
        ({"action_type": "finish_review", "bogus": 1}, "action.bogus"),
        ({"action_type": "propose_intervention", "target_drug_id": "A", "intervention_type": "pray"},
         "action.intervention_type"),
        ({"action_type": "finish_review", "drug_id_1": "A"}, "action.drug_id_1"),
    ],
)
def test_a_malformed_action_raises_naming_the_field_and_takes_no_step(env, action, field):
    env.reset(patient_id="EP_0001")
    with pytest.raises(ValidationError) as excinfo:
        env.step(action)
    assert excinfo.value.field == field
    assert env.state.step_count == 0


def test_flat_clients_may_send_unused_fields_as_null():
    action = parse_action({
        "action_type": "query_ddi", "drug_id_1": "A", "drug_id_2": "B",
        "target_drug_id": None, "intervention_type": "none", "metadata": {},
    })
    assert action.to_dict() == {"action_type": "query_ddi", "drug_id_1": "A", "drug_id_2": "B"}


def test_step_before_reset_raises():
    with pytest.raises(NoEpisodeError):
        PolypharmacyEnv("classic").step(FINISH)


def test_state_reports_the_episode(env):
    assert env.state.to_dict()["episode_id"] is None
    env.reset(patient_id="EP_0001", episode_id="e1")
    env.step(query("DRUG_AMIODARONE", "DRUG_DIGOXIN"))
    state = env.state.to_dict()
    assert state["episode_id"] == "e1" and state["step_count"] == 1 and state["num_queries"] == 1


def test_observation_is_json_serialisable_and_carries_the_query_result(env):
    env.reset(patient_id="EP_0001")
    obs = env.step(query("DRUG_AMIODARONE", "DRUG_DIGOXIN"))
    data = json.loads(json.dumps(obs.to_dict()))
    assert data["last_query_result"]["severity"] == "severe"
    assert data["interaction_queries"][0]["step_index"] == 1


def test_a_snapshot_restores_on_another_env_and_refuses_another_catalog(env, curated):
    env.reset(patient_id="EP_0001")
    env.step(query("DRUG_AMIODARONE", "DRUG_DIGOXIN"))
    snap = json.loads(json.dumps(env.snapshot()))
    other = PolypharmacyEnv(env.catalog)
    assert other.restore(snap).to_dict() == env.observation.to_dict()
    with pytest.raises(SnapshotError):
        PolypharmacyEnv(curated).restore(snap)
