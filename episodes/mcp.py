"""MCP over JSON-RPC 2.0 (``POST /mcp`` and WebSocket ``{"type": "mcp"}`` frames).

Tools: reset, query_ddi, propose_intervention, finish_review, state. A tool's failure is a
result with ``isError: true`` (MCP's convention), not a JSON-RPC error; protocol errors use the
JSON-RPC codes. The HTTP answer is always 200, as OpenEnv's server does.
"""

from __future__ import annotations

import json
from typing import Any

from envcore.errors import EnvError
from envcore.schema import INTERVENTION_ACTION, QUERY_ACTION
from episodes.requests import parse_reset, reject_nul
from episodes.services import Caller, episode_reset, episode_state, episode_step, wire_payload

PROTOCOL_VERSION = "2025-06-18"
_EPISODE = {"episode_id": {"type": "string", "description": "Defaults to your most recent open episode."}}


def _tool_schema(action_schema: dict[str, Any]) -> dict[str, Any]:
    props = {k: v for k, v in action_schema["properties"].items() if k not in ("action_type", "metadata")}
    required = [k for k in action_schema.get("required", []) if k != "action_type"]
    return {"type": "object", "properties": {**props, **_EPISODE}, "required": required}


TOOLS: list[dict[str, Any]] = [
    {
        "name": "reset",
        "description": "Start a medication review episode (returns the first observation).",
        "inputSchema": {
            "type": "object",
            "properties": {
                "seed": {"type": "integer", "minimum": 0},
                "task_id": {"type": "string", "enum": ["easy_screening", "budgeted_screening", "complex_tradeoff"]},
                "patient_id": {"type": "string"},
                "catalog": {"type": "string", "enum": ["classic", "curated"]},
                **_EPISODE,
            },
        },
    },
    {"name": "query_ddi", "description": "Look up the interaction between two drugs of the regimen (costs one query).",
     "inputSchema": _tool_schema(QUERY_ACTION)},
    {"name": "propose_intervention",
     "description": "Stop, dose-reduce, substitute or monitor a drug of the regimen (costs one intervention).",
     "inputSchema": _tool_schema(INTERVENTION_ACTION)},
    {"name": "finish_review", "description": "End the review and get the grader score.",
     "inputSchema": {"type": "object", "properties": dict(_EPISODE)}},
    {"name": "state", "description": "The episode's state (step count, budgets).",
     "inputSchema": {"type": "object", "properties": dict(_EPISODE)}},
]
_TOOL_NAMES = {tool["name"] for tool in TOOLS}


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _result(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _call_tool(caller: Caller, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    args = dict(arguments)
    try:
        reject_nul(args)
        if name == "reset":
            obs, _ = episode_reset(caller, **parse_reset(args))
            payload: Any = wire_payload(obs, reset=True)
        elif name == "state":
            payload = episode_state(caller, episode_id=args.get("episode_id"))
        else:
            episode_id = args.pop("episode_id", None)
            _row, obs = episode_step(caller, action={"action_type": name, **args}, episode_id=episode_id)
            payload = wire_payload(obs)
    except EnvError as exc:
        return {"content": [{"type": "text", "text": exc.message}], "isError": True}
    return {"content": [{"type": "text", "text": json.dumps(payload)}], "isError": False}


def handle_message(message: Any, caller: Caller) -> dict[str, Any] | None:
    """Answer one JSON-RPC message; None for a notification (no id, no answer)."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or not isinstance(message.get("method"), str):
        request_id = message.get("id") if isinstance(message, dict) else None
        return _error(request_id, -32600, "Invalid request: expected a JSON-RPC 2.0 object with a method.")
    request_id = message.get("id")
    method = message["method"]
    params = message.get("params") or {}
    if not isinstance(params, dict):
        return _error(request_id, -32602, "Invalid params: expected an object.")
    if "id" not in message:
        return None
    if method == "initialize":
        return _result(request_id, {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "polypharmacy_env", "version": "0.1.0"},
        })
    if method == "ping":
        return _result(request_id, {})
    if method == "tools/list":
        return _result(request_id, {"tools": TOOLS})
    if method == "tools/call":
        name = params.get("name")
        arguments = params.get("arguments") or {}
        if name not in _TOOL_NAMES:
            return _error(request_id, -32602, f"Unknown tool {name!r}; expected one of {', '.join(sorted(_TOOL_NAMES))}.")
        if not isinstance(arguments, dict):
            return _error(request_id, -32602, "Invalid params: arguments must be an object.")
        return _result(request_id, _call_tool(caller, name, arguments))
    return _error(request_id, -32601, f"Method not found: {method}")


def handle_raw(raw: bytes, caller: Caller) -> dict[str, Any]:
    try:
        message = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(None, -32700, f"Parse error: {exc}")
    return handle_message(message, caller) or {"jsonrpc": "2.0", "id": None, "result": {}}
