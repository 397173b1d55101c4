"""The wire contract: one definition, and everything derived from it agrees with it."""

from __future__ import annotations

import json

import pytest

from envcore import contract
from envcore.contract import (
    ACTION_TYPES,
    ResetRequest,
    StepRequest,
    StepResponse,
    action_json_schema,
    observation_json,
    parse_action,
    parse_frame,
    step_body_json,
    tool_arguments_model,
    validate,
)
from envcore.env import PolypharmacyEnv
from envcore.errors import UnknownMessageType, ValidationError


@pytest.fixture(scope="module")
def observations() -> list:
    env = PolypharmacyEnv("classic")
    first = env.reset(patient_id="EP_0001")
    queried = env.step(contract.query("DRUG_AMIODARONE", "DRUG_DIGOXIN"))
    stopped = env.step(contract.intervene("DRUG_AMIODARONE", "stop", rationale="a severe pair"))
    finished = env.step(contract.FINISH)
    return [first, queried, stopped, finished]


def test_the_spliced_step_body_is_byte_for_byte_the_models_own_encoding(observations) -> None:
    for obs in observations:
        for reward in (None, obs.shaped_reward):
            expected = StepResponse(observation=obs, reward=reward, done=obs.done).model_dump_json().encode()
            assert step_body_json(observation_json(obs), reward, obs.done) == expected


def test_the_observation_serialises_as_its_json_ready_dict(observations) -> None:
    for obs in observations:
        assert json.loads(observation_json(obs)) == obs.to_dict()


def test_the_action_schema_lists_every_field_flat_and_the_union_beside_them() -> None:
    schema = action_json_schema()

    assert schema["properties"]["action_type"]["enum"] == list(ACTION_TYPES)
    assert {"drug_id_1", "drug_id_2", "target_drug_id", "intervention_type", "proposed_new_drug_id",
            "rationale"} <= set(schema["properties"])
    assert len(schema["oneOf"]) == 3 and schema["discriminator"]["propertyName"] == "action_type"
    assert schema["required"] == ["action_type"]


def test_an_mcp_tools_arguments_are_its_actions_fields_and_an_episode_id() -> None:
    for action_type, model in contract.ACTION_MODELS.items():
        arguments = tool_arguments_model(action_type).model_json_schema()
        fields = {n for n, f in model.model_fields.items() if not f.exclude and n not in ("action_type", "metadata")}
        assert set(arguments["properties"]) == fields | {"episode_id"}
        assert arguments["additionalProperties"] is False


@pytest.mark.parametrize(("data", "loc", "kind"), [
    ({"action_type": "query_ddi", "drug_id_1": "A"}, ["action", "drug_id_2"], "missing"),
    ({"action_type": "prescribe"}, ["action", "action_type"], "union_tag_invalid"),
    ({}, ["action", "action_type"], "union_tag_not_found"),
    ({"action_type": "finish_review", "drug_id_1": "A"}, ["action", "drug_id_1"], "none_required"),
    ({"action_type": "finish_review", "colour": "red"}, ["action", "colour"], "extra_forbidden"),
    ({"action_type": "query_ddi", "drug_id_1": 1, "drug_id_2": "B"}, ["action", "drug_id_1"], "string_type"),
    ("finish_review", ["action"], "model_attributes_type"),
])
def test_a_malformed_action_is_one_item_at_the_field_not_at_the_union_tag(data, loc, kind) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_action(data)

    (item,) = raised.value.errors
    assert (item["loc"], item["type"]) == (loc, kind)
    assert item["msg"].startswith(".".join(loc))
    assert raised.value.field == ".".join(loc)


def test_a_flat_clients_unused_fields_are_accepted_as_null_and_none() -> None:
    action = parse_action({"action_type": "finish_review", "drug_id_1": None, "intervention_type": "none",
                           "metadata": {"from": "a flat client"}})

    assert action.to_dict() == {"action_type": "finish_review"}


@pytest.mark.parametrize(("body", "field"), [
    ({"seed": True}, "seed"), ({"seed": "7"}, "seed"), ({"seed": 1.5}, "seed"), ({"seed": -1}, "seed"),
    ({"seed": 2**63}, "seed"), ({"task_id": "triage"}, "task_id"), ({"episode_id": ""}, "episode_id"),
    ({"episode_id": "e" * 256}, "episode_id"), ({"catalog": "bnf"}, "catalog"), ({"colour": 1}, "colour"),
])
def test_a_reset_request_is_strict(body, field) -> None:
    with pytest.raises(ValidationError) as raised:
        validate(ResetRequest, body)
    assert raised.value.field == field


def test_a_step_request_needs_an_action_and_a_positive_finite_timeout() -> None:
    for body, field in (({}, "action"), ({"action": {"action_type": "finish_review"}, "timeout_s": 0}, "timeout_s"),
                        ({"action": {"action_type": "finish_review"}, "timeout_s": float("inf")}, "timeout_s")):
        with pytest.raises(ValidationError) as raised:
            validate(StepRequest, body)
        assert raised.value.field == field


def test_frames_name_fields_as_http_does() -> None:
    cases = [
        ({"type": "step", "data": {"action_type": "query_ddi", "drug_id_1": "A"}}, "action.drug_id_2"),
        ({"type": "step"}, "action"),
        ({"type": "reset", "data": {"seed": -1}}, "seed"),
        ({"type": "step", "data": {"action_type": "finish_review"}, "id": 1}, "id"),
        ({"data": {}}, "type"),
    ]
    for frame, field in cases:
        with pytest.raises(ValidationError) as raised:
            parse_frame(frame)
        assert raised.value.field == field, frame
    with pytest.raises(UnknownMessageType):
        parse_frame({"type": "dance"})
