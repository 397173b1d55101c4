"""POST /mcp: MCP over JSON-RPC 2.0 (the SDK's types), in both protocol eras, with OpenEnv's sessions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from episodes.models import Episode, Step, ToolSession
from episodes.tests.conftest import post, regimen, started

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogs")]
MODERN = "2026-07-28"


def rpc(client, method: str, params: dict[str, Any] | None = None, request_id: int = 1, **headers: str) -> dict[str, Any]:
    response = post(client, "/mcp", {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}},
                    **headers)
    assert response.status_code == 200, response.content
    return response.json()


def call(client, tool: str, **arguments: Any) -> tuple[bool, Any]:
    """(isError, the structured result, or the error's text)."""
    result = rpc(client, "tools/call", {"name": tool, "arguments": arguments})["result"]
    if result["isError"]:
        return True, result["content"][0]["text"]
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    return False, result["structuredContent"]


def modern(client, method: str, params: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None,
           meta: dict[str, Any] | None = None):
    """A 2026-07-28 request: its envelope in params._meta and the routing headers that mirror it."""
    body_params = {**(params or {}), "_meta": meta if meta is not None else {
        "io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}}
    routing = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if method == "tools/call":
        routing["Mcp-Name"] = body_params["name"]
    return post(client, "/mcp", {"jsonrpc": "2.0", "id": 9, "method": method, "params": body_params},
                **{**routing, **(headers or {})})


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


def test_initialize_answers_the_clients_version_up_to_2025_11_25_and_the_newest_handshake_otherwise(client) -> None:
    result = rpc(client, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}})["result"]
    older = rpc(client, "initialize", {"protocolVersion": "2024-11-05", "capabilities": {}})["result"]
    future = rpc(client, "initialize", {"protocolVersion": "2030-01-01", "capabilities": {}})["result"]

    assert result["serverInfo"]["name"] == "polypharmacy_env" and result["capabilities"]["tools"] == {"listChanged": False}
    assert (result["protocolVersion"], older["protocolVersion"], future["protocolVersion"]) == (
        "2025-11-25", "2024-11-05", "2025-11-25")


def test_notifications_are_accepted_with_202_and_no_body(client) -> None:
    response = post(client, "/mcp", {"jsonrpc": "2.0", "method": "notifications/initialized"})

    assert response.status_code == 202 and response.content == b""


def test_get_and_delete_are_405_even_when_the_client_asks_for_an_event_stream(client) -> None:
    get = client.get("/mcp", headers={"Accept": "text/event-stream"})
    delete = client.delete("/mcp")

    assert (get.status_code, delete.status_code) == (405, 405)
    assert "POST" in get["Allow"] and "GET" not in get["Allow"]


@pytest.mark.parametrize("version", ["bogus", "2099-01-01", "2025-06-17"])
def test_a_protocol_version_the_server_does_not_speak_is_refused_with_400_naming_those_it_does(client, version) -> None:
    response = post(client, "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    **{"MCP-Protocol-Version": version})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32022 and error["data"]["requested"] == version
    assert "2025-11-25" in error["data"]["supported"] and MODERN in error["data"]["supported"]


def test_tools_are_the_three_actions_with_json_schema_inputs_and_the_step_answer_as_output(client) -> None:
    tools = rpc(client, "tools/list")["result"]["tools"]

    assert [tool["name"] for tool in tools] == ["query_ddi", "propose_intervention", "finish_review"]
    by_name = {tool["name"]: tool for tool in tools}
    assert by_name["query_ddi"]["inputSchema"]["required"] == ["drug_id_1", "drug_id_2"]
    assert all(tool["outputSchema"]["required"] == ["observation", "reward", "done"] for tool in tools)
    assert '"nullable"' not in json.dumps(tools)  # JSON Schema's null: anyOf [..., {"type": "null"}]
    assert by_name["propose_intervention"]["inputSchema"]["properties"]["rationale"]["anyOf"][1] == {"type": "null"}


def test_tool_calls_play_a_whole_episode_started_over_http(client) -> None:
    observation = started(client, task_id="easy_screening", seed=0)
    episode_id = observation["episode_id"]
    first, second = regimen(observation)[:2]

    error, queried = call(client, "query_ddi", drug_id_1=first, drug_id_2=second, episode_id=episode_id)
    assert not error and queried["observation"]["step_index"] == 1
    error, finished = call(client, "finish_review", episode_id=episode_id)

    assert not error and finished["done"] is True and 0.001 <= finished["observation"]["grader_score"] <= 0.999
    episode = Episode.objects.get()
    assert (episode.episode_id, episode.status) == (episode_id, "terminated")
    assert list(Step.objects.values_list("index", "action__action_type")) == [(1, "query_ddi"), (2, "finish_review")]


def test_reset_and_state_are_not_agent_tools(client) -> None:
    for name in ("reset", "state", "step", "close"):
        assert rpc(client, "tools/call", {"name": name, "arguments": {}})["error"]["code"] == -32602
    assert not Episode.objects.exists()


def test_a_cookie_keeping_client_needs_no_episode_id(client) -> None:
    started(client, task_id="easy_screening")

    error, finished = call(client, "finish_review")

    assert not error and finished["done"] is True


def test_a_bad_tool_call_is_an_error_result_and_changes_nothing(client) -> None:
    started(client, task_id="easy_screening")

    bad = [
        call(client, "query_ddi", drug_id_1="A"),  # drug_id_2 missing
        call(client, "propose_intervention", target_drug_id="A", intervention_type="double"),
        call(client, "finish_review", episode_id="no-such-episode"),
        call(client, "finish_review", colour="red"),
    ]
    # A NUL is refused by the strict JSON parser, before any method runs: invalid params.
    nul = rpc(client, "tools/call", {"name": "query_ddi", "arguments": {"drug_id_1": "A\u0000", "drug_id_2": "B"}})

    assert all(error for error, _ in bad)
    assert "drug_id_2" in bad[0][1] and "no-such-episode" in bad[2][1] and "colour" in bad[3][1]
    assert nul["error"]["code"] == -32602 and "params.arguments.drug_id_1" in nul["error"]["message"]
    assert Step.objects.count() == 0 and Episode.objects.count() == 1


def test_an_unknown_tool_is_invalid_params(client) -> None:
    assert rpc(client, "tools/call", {"name": "prescribe", "arguments": {}})["error"]["code"] == -32602


# ── OpenEnv's sessions (the WebSocket attach is in test_mcp_sessions_ws.py) ────────────────────
def test_a_session_is_created_and_closed_and_then_unknown(client) -> None:
    session_id = rpc(client, "openenv/session/create")["result"]["session_id"]

    closed = rpc(client, "openenv/session/close", {"session_id": session_id})["result"]
    again = rpc(client, "openenv/session/close", {"session_id": session_id})

    assert closed == {"session_id": session_id, "closed": True}
    assert again["error"]["code"] == -32602 and "Unknown session_id" in again["error"]["message"]
    assert ToolSession.objects.get().closed_at is not None


def test_a_tool_call_on_a_session_without_an_episode_says_to_reset_it_first(client) -> None:
    session_id = rpc(client, "openenv/session/create")["result"]["session_id"]

    result = rpc(client, "tools/call", {"name": "finish_review", "arguments": {}, "session_id": session_id})["result"]
    unknown = rpc(client, "tools/call", {"name": "finish_review", "arguments": {}, "session_id": "nope"})

    assert result["isError"] is True and "reset it first" in result["content"][0]["text"]
    assert unknown["error"]["code"] == -32602 and "Unknown session_id: nope" in unknown["error"]["message"]


# ── the 2026-07-28 era ───────────────────────────────────────────────────────────────────────
def test_server_discover_lists_every_version_and_names_the_server(client) -> None:
    response = modern(client, "server/discover")

    assert response.status_code == 200
    result = response.json()["result"]
    assert result["supportedVersions"][-2:] == ["2025-11-25", MODERN] and result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "polypharmacy_env"


def test_a_modern_tool_call_plays_a_step(client) -> None:
    observation = started(client, task_id="easy_screening", seed=0)

    response = modern(client, "tools/call", {"name": "finish_review", "arguments": {"episode_id": observation["episode_id"]}})

    assert response.status_code == 200 and response.json()["result"]["structuredContent"]["done"] is True


@pytest.mark.parametrize(("headers", "meta", "status", "code"), [
    ({"Mcp-Method": "tools/list"}, None, 400, -32020),  # the header disagrees with the body's method
    ({"Mcp-Name": "query_ddi"}, None, 400, -32020),
    ({}, {"io.modelcontextprotocol/protocolVersion": MODERN}, 400, -32602),  # no client capabilities
    ({}, {"io.modelcontextprotocol/protocolVersion": "2025-11-25", "io.modelcontextprotocol/clientCapabilities": {}},
     400, -32020),
])
def test_a_modern_request_whose_envelope_and_headers_disagree_is_refused_and_runs_nothing(client, headers, meta, status,
                                                                                         code) -> None:
    observation = started(client, task_id="easy_screening", seed=0)

    response = modern(client, "tools/call", {"name": "finish_review", "arguments": {"episode_id": observation["episode_id"]}},
                      headers=headers, meta=meta)

    assert response.status_code == status and response.json()["error"]["code"] == code
    assert not Step.objects.exists()


def test_a_modern_unknown_method_is_a_404(client) -> None:
    response = modern(client, "initialize")

    assert response.status_code == 404 and response.json()["error"]["code"] == -32601
