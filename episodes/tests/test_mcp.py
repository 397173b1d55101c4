"""POST /mcp: JSON-RPC 2.0 over HTTP, always answered with HTTP 200."""

from __future__ import annotations

import json
from typing import Any

import pytest

from episodes.models import Episode, Step
from episodes.tests.conftest import post, regimen

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogs")]


def rpc(client, method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> dict[str, Any]:
    response = post(client, "/mcp", {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
    assert response.status_code == 200
    return response.json()


def call(client, tool: str, **arguments: Any) -> tuple[bool, Any]:
    """(isError, the tool's text: decoded JSON when it is JSON)."""
    result = rpc(client, "tools/call", {"name": tool, "arguments": arguments})["result"]
    text = result["content"][0]["text"]
    return result["isError"], (text if result["isError"] else json.loads(text))


def test_an_empty_object_is_an_invalid_request_answered_with_200(client) -> None:
    response = post(client, "/mcp", {})

    assert response.status_code == 200
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == -32600


def test_unparsable_json_is_a_parse_error(client) -> None:
    response = post(client, "/mcp", raw=b'{"jsonrpc": ')

    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32700


def test_an_unknown_method_is_method_not_found(client) -> None:
    assert rpc(client, "resources/list")["error"]["code"] == -32601


def test_initialize_names_the_server_and_its_tools_capability(client) -> None:
    result = rpc(client, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}})["result"]

    assert result["serverInfo"]["name"] == "polypharmacy_env"
    assert "tools" in result["capabilities"]
    assert isinstance(result["protocolVersion"], str)


def test_tools_list_lists_the_actions_with_input_schemas(client) -> None:
    tools = rpc(client, "tools/list")["result"]["tools"]

    assert [tool["name"] for tool in tools] == ["reset", "query_ddi", "propose_intervention", "finish_review", "state"]
    assert all(tool["description"] and tool["inputSchema"]["type"] == "object" for tool in tools)
    by_name = {tool["name"]: tool for tool in tools}
    assert by_name["query_ddi"]["inputSchema"]["required"] == ["drug_id_1", "drug_id_2"]


def test_tool_calls_play_a_whole_episode(client) -> None:
    error, started = call(client, "reset", task_id="easy_screening", seed=0)
    assert not error and started["reward"] is None
    episode_id = started["observation"]["episode_id"]
    first, second = regimen(started["observation"])[:2]

    error, queried = call(client, "query_ddi", drug_id_1=first, drug_id_2=second, episode_id=episode_id)
    assert not error and queried["observation"]["step_index"] == 1
    error, finished = call(client, "finish_review", episode_id=episode_id)
    assert not error and finished["done"] is True
    error, state = call(client, "state", episode_id=episode_id)

    assert not error and state["step_count"] == 2
    episode = Episode.objects.get()
    assert (episode.episode_id, episode.status) == (episode_id, "terminated")
    assert list(Step.objects.values_list("index", "action__action_type")) == [(1, "query_ddi"), (2, "finish_review")]


def test_a_cookie_keeping_client_needs_no_episode_id(client) -> None:
    call(client, "reset", task_id="easy_screening")

    error, finished = call(client, "finish_review")

    assert not error and finished["done"] is True


def test_a_bad_tool_call_is_an_error_result_and_changes_nothing(client) -> None:
    call(client, "reset", task_id="easy_screening")

    bad = [
        call(client, "query_ddi", drug_id_1="A"),  # drug_id_2 missing
        call(client, "propose_intervention", target_drug_id="A", intervention_type="double"),
        call(client, "finish_review", episode_id="no-such-episode"),
        call(client, "reset", task_id="triage"),
        call(client, "reset", colour="red"),
    ]
    # A NUL is refused by the strict JSON parser, before any method runs: invalid params.
    nul = rpc(client, "tools/call", {"name": "query_ddi", "arguments": {"drug_id_1": "A\u0000", "drug_id_2": "B"}})

    assert all(error for error, _ in bad)
    assert "drug_id_2" in bad[0][1] and "no-such-episode" in bad[2][1] and "task_id" in bad[3][1]
    assert nul["error"]["code"] == -32602 and "params.arguments.drug_id_1" in nul["error"]["message"]
    assert Step.objects.count() == 0 and Episode.objects.count() == 1


def test_an_unknown_tool_is_invalid_params(client) -> None:
    assert rpc(client, "tools/call", {"name": "prescribe", "arguments": {}})["error"]["code"] == -32602
