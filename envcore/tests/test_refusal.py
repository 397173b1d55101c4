"""``PolypharmacyEnv.refusal``: the step's own checks, asked without stepping (the review forms)."""

import pytest

from envcore.env import PolypharmacyEnv
from envcore.errors import NoEpisodeError, ValidationError
from envcore.tests.conftest import FINISH, intervene, query


def test_it_names_the_field_of_a_drug_outside_the_regimen(env):
    env.reset(patient_id="EP_0001")
    assert env.refusal(query("DRUG_AMIODARONE", "DRUG_WARFARIN")) == (
        "drug_id_2", "drug_id_2 'DRUG_WARFARIN' is not in the current regimen.",
    )
    assert env.refusal(intervene("DRUG_WARFARIN", "stop"))[0] == "target_drug_id"


def test_it_refuses_the_same_drug_twice_at_the_second_field(env):
    env.reset(patient_id="EP_0001")
    assert env.refusal(query("DRUG_DIGOXIN", "DRUG_DIGOXIN"))[0] == "drug_id_2"


def test_it_reports_an_exhausted_budget_as_an_action_type_refusal(env):
    env.reset(patient_id="EP_0001")
    env.step(intervene("DRUG_AMLODIPINE", "add_monitoring"))
    env.step(intervene("DRUG_LISINOPRIL", "add_monitoring"))
    assert env.refusal(intervene("DRUG_FUROSEMIDE", "add_monitoring")) == (
        "action_type", "Intervention budget exhausted.",
    )


def test_it_refuses_a_substitute_of_another_class_at_the_substitute_field(env):
    env.reset(patient_id="EP_0001")
    field, message = env.refusal(intervene("DRUG_AMIODARONE", "substitute", "DRUG_WARFARIN"))
    assert field == "proposed_new_drug_id" and "same therapeutic class" in message


def test_it_refuses_a_dose_reduction_below_the_minimum_at_the_intervention_type(env):
    env.reset(patient_id="EP_0001")
    env.step(intervene("DRUG_AMIODARONE", "dose_reduce"))
    field, message = env.refusal(intervene("DRUG_AMIODARONE", "dose_reduce"))
    assert field == "intervention_type" and "minimum dose" in message


def test_it_accepts_valid_actions_and_finishing(env):
    env.reset(patient_id="EP_0001")
    assert env.refusal(query("DRUG_AMIODARONE", "DRUG_DIGOXIN")) is None
    assert env.refusal(intervene("DRUG_AMIODARONE", "dose_reduce")) is None
    assert env.refusal(FINISH) is None


def test_it_changes_nothing(env):
    env.reset(patient_id="EP_0081")
    before = env.snapshot()
    env.refusal(intervene("DRUG_IBUPROFEN", "substitute"))
    env.refusal(query("DRUG_IBUPROFEN", "DRUG_NOPE"))
    assert env.snapshot() == before


def test_its_message_is_the_steps_last_action_error(env):
    env.reset(patient_id="EP_0001")
    action = query("DRUG_AMIODARONE", "DRUG_WARFARIN")
    _field, message = env.refusal(action)
    assert env.step(action).last_action_error == message


def test_it_rejects_malformed_actions_and_needs_an_episode(classic):
    env = PolypharmacyEnv(classic)
    with pytest.raises(NoEpisodeError):
        env.refusal(FINISH)
    env.reset(patient_id="EP_0001")
    with pytest.raises(ValidationError):
        env.refusal({"action_type": "query_ddi", "drug_id_1": "X"})
