"""MCP over JSON-RPC 2.0 (``POST /mcp`` and WebSocket ``{"type": "mcp"}`` frames).

Tools: reset, query_ddi, propose_intervention, finish_review, state. Their input schemas are
the contract's models (``envcore.contract``): each action tool takes the action's own fields
plus ``episode_id``, and its arguments are validated by a model built from the action model, so
the two cannot drift. A tool's failure is a result with ``isError: true`` (MCP's convention),
not a JSON-RPC error; protocol errors use the JSON-RPC codes. The HTTP answer is always 200,
as OpenEnv's server does.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json

from envcore.contract import ACTION_TYPES, ResetRequest, StateQuery, tool_arguments_model, validate
from envcore.errors import EnvError, InvalidJSON, ValidationError
from envcore.strict_json import strict_loads
from episodes.errors import mcp_tool_error
from episodes.services import episode_reset, episode_state, wire_payload
from episodes.sessions import Caller
from episodes.steps import episode_step

PROTOCOL_VERSION = "2025-06-18"
SERVER_VERSION = "1.0.0"
_DESCRIPTIONS = {
    "reset": "Start a medication review episode (returns the first observation).",
    "query_ddi": "Look up the interaction between two drugs of the regimen (costs one query).",
    "propose_intervention": "Stop, dose-reduce, substitute or monitor a drug of the regimen (costs one intervention).",
    "finish_review": "End the review and get the grader score.",
    "state": "The episode's state (step count, budgets).",
}
_ARGUMENTS: dict[str, type[BaseModel]] = {
    "reset": ResetRequest,
    **{name: tool_arguments_model(name) for name in ACTION_TYPES},
    "state": StateQuery,
}
TOOLS: list[dict[str, Any]] = [
    {"name": name, "description": _DESCRIPTIONS[name], "inputSchema": model.model_json_schema()}
    for name, model in _ARGUMENTS.items()
]


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _result(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _call_tool(caller: Caller, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    try:
        args = validate(_ARGUMENTS[name], arguments)
        if name == "reset":
            session, _ = episode_reset(caller, args)
            payload: Any = wire_payload(session.env.observation, reset=True)
        elif name == "state":
            payload = episode_state(caller, episode_id=args.episode_id)
        else:
            fields = args.model_dump(exclude_none=True, exclude={"episode_id"})
            result = episode_step(caller, action={"action_type": name, **fields}, episode_id=args.episode_id)
            payload = wire_payload(result.observation)
    except EnvError as exc:
        return mcp_tool_error(exc)
    return {"content": [{"type": "text", "text": to_json(payload).decode()}], "isError": False}


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
            "serverInfo": {"name": "polypharmacy_env", "version": SERVER_VERSION},
        })
    if method == "ping":
        return _result(request_id, {})
    if method == "tools/list":
        return _result(request_id, {"tools": TOOLS})
    if method == "tools/call":
        name = params.get("name")
        arguments = params.get("arguments") or {}
        if name not in _ARGUMENTS:
            return _error(request_id, -32602, f"Unknown tool {name!r}; expected one of {', '.join(_ARGUMENTS)}.")
        if not isinstance(arguments, dict):
            return _error(request_id, -32602, "Invalid params: arguments must be an object.")
        return _result(request_id, _call_tool(caller, name, arguments))
    return _error(request_id, -32601, f"Method not found: {method}")


def handle_raw(raw: bytes, caller: Caller) -> dict[str, Any]:
    """Answer a raw HTTP body: strict JSON, then ``handle_message``."""
    try:
        message = strict_loads(raw, what="body") if raw.strip() else {}
    except InvalidJSON as exc:
        return _error(None, -32700, f"Parse error: {exc.message}")
    except ValidationError as exc:  # JSON, but with a value no tool can take (a NUL...)
        return _error(None, -32602, f"Invalid params: {exc.message}")
    return handle_message(message, caller) or {"jsonrpc": "2.0", "id": None, "result": {}}
