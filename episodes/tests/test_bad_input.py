"""Bad input, over HTTP and over the WebSocket: the right status or error code, a message that
names the field, never a 500, and nothing written. Refusals by the environment itself (a drug
outside the regimen...) are ordinary steps: see test_api_step."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from episodes.models import Step
from episodes.tests.conftest import FINISH, database_rows, post, run_async, started, step, ws_send

# ── HTTP ─────────────────────────────────────────────────────────────────────
# (path, body: a dict, or raw bytes; "{patient}" and "{episode}" name the open episode's), then
# the expected loc of a 422 (the field), or the expected status and a word of its detail.
BAD_HTTP: list[tuple[str, str, Any, Any]] = [
    ("malformed JSON", "/step", b'{"action": {', ["body"]),
    ("malformed JSON on reset", "/reset", b"{seed: 1}", ["body"]),
    ("a body that is not UTF-8", "/step", b'{"action": "\xff"}', ["body"]),
    ("a list body", "/step", b'[{"action_type": "finish_review"}]', ["body"]),
    ("a string body", "/reset", b'"reset"', ["body"]),
    ("no action", "/step", {"episode_id": "{episode}"}, ["body", "action"]),
    ("a null action", "/step", {"action": None}, ["body", "action"]),
    ("a string action", "/step", {"action": "finish_review"}, ["body", "action"]),
    ("an action without action_type", "/step", {"action": {"drug_id_1": "A"}}, ["body", "action", "action_type"]),
    ("an unknown action_type", "/step", {"action": {"action_type": "prescribe"}}, ["body", "action", "action_type"]),
    ("an unknown field in the action", "/step", {"action": {**FINISH, "colour": "red"}}, ["body", "action", "colour"]),
    ("a field another action type uses", "/step", {"action": {**FINISH, "drug_id_1": "A"}}, ["body", "action", "drug_id_1"]),
    ("an unknown top-level field on step", "/step", {"action": FINISH, "colour": "red"}, ["body", "colour"]),
    ("an unknown top-level field on reset", "/reset", {"colour": "red"}, ["body", "colour"]),
    ("a number for a drug id", "/step", {"action": {"action_type": "query_ddi", "drug_id_1": 1, "drug_id_2": "B"}},
     ["body", "action", "drug_id_1"]),
    ("a missing required action field", "/step", {"action": {"action_type": "query_ddi", "drug_id_1": "A"}},
     ["body", "action", "drug_id_2"]),
    ("an unknown intervention_type", "/step",
     {"action": {"action_type": "propose_intervention", "target_drug_id": "A", "intervention_type": "double"}},
     ["body", "action", "intervention_type"]),
    ("a string timeout_s", "/step", {"action": FINISH, "timeout_s": "soon"}, ["body", "timeout_s"]),
    ("a negative timeout_s", "/step", {"action": FINISH, "timeout_s": -1}, ["body", "timeout_s"]),
    ("a number for episode_id", "/step", {"action": FINISH, "episode_id": 7}, ["body", "episode_id"]),
    ("an overlong request_id", "/step", {"action": FINISH, "request_id": "r" * 256}, ["body", "request_id"]),
    ("a NUL in a drug id", "/step", {"action": {"action_type": "query_ddi", "drug_id_1": "A\u0000", "drug_id_2": "B"}},
     ["body", "action", "drug_id_1"]),
    ("a NUL in the episode_id", "/step", {"action": FINISH, "episode_id": "x\u0000"}, ["body", "episode_id"]),
    ("an unknown task", "/reset", {"task_id": "triage"}, ["body", "task_id"]),
    ("a number for the task", "/reset", {"task_id": 2}, ["body", "task_id"]),
    ("an unknown patient", "/reset", {"patient_id": "NOBODY"}, ["body", "patient_id"]),
    ("a patient outside the task's pool", "/reset", {"task_id": "complex_tradeoff", "patient_id": "{patient}"},
     ["body", "patient_id"]),
    ("a negative seed", "/reset", {"seed": -1}, ["body", "seed"]),
    ("a fractional seed", "/reset", {"seed": 1.5}, ["body", "seed"]),
    ("a string seed", "/reset", {"seed": "7"}, ["body", "seed"]),
    ("a boolean seed", "/reset", {"seed": True}, ["body", "seed"]),
    ("an unknown catalog", "/reset", {"catalog": "bnf"}, ["body", "catalog"]),
    ("an unknown durability", "/reset", {"durability": "eventual"}, ["body", "durability"]),
    ("an empty episode_id on reset", "/reset", {"episode_id": ""}, ["body", "episode_id"]),
    ("an unknown episode", "/step", {"action": FINISH, "episode_id": "no-such-episode"}, (404, "no-such-episode")),
    ("a 2 MB body", "/step", b'{"action": {"action_type": "finish_review", "rationale": "' + b"x" * 2_000_000 + b'"}}',
     (413, "1 MB")),
]


def fill(body: Any, values: dict[str, str]) -> Any:
    if isinstance(body, dict):
        return {key: fill(value, values) for key, value in body.items()}
    if isinstance(body, str):
        return body.format(**values) if body in ("{patient}", "{episode}") else body
    return body


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogs")
@pytest.mark.parametrize(("path", "body", "expected"), [row[1:] for row in BAD_HTTP], ids=[row[0] for row in BAD_HTTP])
def test_bad_http_input_is_refused_and_changes_nothing(client, path: str, body: Any, expected: Any) -> None:
    observation = started(client, task_id="easy_screening", seed=0)
    before = database_rows()
    values = {"patient": observation["patient_id"], "episode": observation["episode_id"]}

    if isinstance(body, bytes):
        response = post(client, path, raw=body)
    else:
        response = post(client, path, fill(body, values))

    assert database_rows() == before
    if isinstance(expected, list):
        assert response.status_code == 422, response.content[:300]
        (error,) = response.json()["detail"]
        assert set(error) == {"type", "loc", "msg", "input"}
        assert error["loc"] == expected
        if len(expected) > 1:
            assert expected[-1] in error["msg"]
    else:
        status, word = expected
        assert response.status_code == status, response.content[:300]
        assert word in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogs")
def test_a_422_echoes_the_offending_input(client) -> None:
    started(client)

    (error,) = step(client, {"action_type": "prescribe"}).json()["detail"]

    assert error["input"] == "prescribe"
    assert error["type"] == "value_error"


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogs")
def test_a_step_on_a_finished_episode_is_409_and_changes_nothing(client) -> None:
    episode_id = started(client, task_id="easy_screening")["episode_id"]
    step(client, FINISH)
    before = database_rows()

    response = step(client, FINISH, episode_id=episode_id)

    assert response.status_code == 409
    assert "finished" in response.json()["detail"]
    assert database_rows() == before


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogs")
def test_a_step_before_any_reset_is_404_with_the_way_out(client) -> None:
    response = step(client, FINISH)

    assert response.status_code == 404
    assert "reset first, or pass episode_id" in response.json()["detail"]


# ── WebSocket ────────────────────────────────────────────────────────────────
# (frame: a dict, or raw text; the error code expected). Every row is sent inside a session
# with an open episode, which must still take a valid step afterwards.
BAD_FRAMES: list[tuple[str, Any, str]] = [
    ("malformed JSON", '{"type": "step", ', "INVALID_JSON"),
    ("a frame that is not an object", '["step"]', "VALIDATION_ERROR"),
    ("a frame without a type", {"data": {}}, "VALIDATION_ERROR"),
    ("an unknown frame type", {"type": "dance"}, "UNKNOWN_TYPE"),
    ("an unknown frame key", {"type": "step", "data": FINISH, "id": 1}, "VALIDATION_ERROR"),
    ("a step without an action", {"type": "step"}, "VALIDATION_ERROR"),
    ("a string action", {"type": "step", "data": "finish_review"}, "VALIDATION_ERROR"),
    ("an unknown action_type", {"type": "step", "data": {"action_type": "prescribe"}}, "VALIDATION_ERROR"),
    ("an unknown field in the action", {"type": "step", "data": {**FINISH, "colour": "red"}}, "VALIDATION_ERROR"),
    ("a number for a drug id", {"type": "step", "data": {"action_type": "query_ddi", "drug_id_1": 1, "drug_id_2": "B"}},
     "VALIDATION_ERROR"),
    ("a NUL in a drug id",
     {"type": "step", "data": {"action_type": "query_ddi", "drug_id_1": "A\u0000", "drug_id_2": "B"}},
     "VALIDATION_ERROR"),
    ("reset data that is not an object", {"type": "reset", "data": "easy"}, "VALIDATION_ERROR"),
    ("an unknown task", {"type": "reset", "data": {"catalog": "classic", "task_id": "triage"}}, "VALIDATION_ERROR"),
    ("an unknown patient", {"type": "reset", "data": {"catalog": "classic", "patient_id": "NOBODY"}}, "VALIDATION_ERROR"),
    ("a negative seed", {"type": "reset", "data": {"catalog": "classic", "seed": -1}}, "VALIDATION_ERROR"),
    ("an unknown reset field", {"type": "reset", "data": {"colour": "red"}}, "VALIDATION_ERROR"),
]


def ws_application():
    from polypharmacy_site.asgi import application

    return application


async def open_session() -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator = WebsocketCommunicator(ws_application(), "/ws")
    connected, _ = await communicator.connect()
    assert connected
    reply = await ws_send(communicator, {"type": "reset", "data": {"catalog": "classic", "task_id": "easy_screening"}})
    assert reply["type"] == "observation", reply
    return communicator, reply["data"]["observation"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("classic_catalog")
@pytest.mark.parametrize(("frame", "code"), [row[1:] for row in BAD_FRAMES], ids=[row[0] for row in BAD_FRAMES])
def test_a_bad_frame_gets_an_error_frame_and_the_session_goes_on(frame: Any, code: str) -> None:
    async def scenario() -> None:
        communicator, observation = await open_session()

        error = await ws_send(communicator, frame)

        assert error["type"] == "error"
        assert error["data"]["code"] == code
        assert error["data"]["message"]
        reply = await ws_send(communicator, {"type": "step", "data": FINISH})
        assert reply["type"] == "observation", reply
        assert reply["data"]["observation"]["episode_id"] == observation["episode_id"]
        assert reply["data"]["observation"]["step_index"] == 1
        await communicator.disconnect()

    run_async(scenario)

    assert list(Step.objects.values_list("index", flat=True)) == [1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("classic_catalog")
def test_a_validation_error_frame_names_the_field() -> None:
    async def scenario() -> dict[str, Any]:
        communicator, _ = await open_session()
        error = await ws_send(communicator, {"type": "step", "data": {**FINISH, "colour": "red"}})
        await communicator.disconnect()
        return error

    error = run_async(scenario)

    assert error["data"]["field"] == "action.colour"
    assert error["data"]["errors"][0]["loc"] == ["body", "action", "colour"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("classic_catalog")
def test_a_step_before_reset_and_after_the_end_is_a_session_error() -> None:
    async def scenario() -> list[dict[str, Any]]:
        communicator = WebsocketCommunicator(ws_application(), "/ws")
        await communicator.connect()
        replies = [await ws_send(communicator, {"type": "step", "data": FINISH})]
        await ws_send(communicator, {"type": "reset", "data": {"catalog": "classic"}})
        replies.append(await ws_send(communicator, {"type": "step", "data": FINISH}))
        replies.append(await ws_send(communicator, {"type": "step", "data": FINISH}))
        replies.append(await ws_send(communicator, {"type": "state"}))
        await communicator.disconnect()
        return replies

    before, finished, after, state = run_async(scenario)

    assert (before["type"], before["data"]["code"]) == ("error", "SESSION_ERROR")
    assert "reset" in before["data"]["message"]
    assert finished["data"]["done"] is True
    assert (after["type"], after["data"]["code"]) == ("error", "SESSION_ERROR")
    assert "finished" in after["data"]["message"]
    assert state["data"]["step_count"] == 1

