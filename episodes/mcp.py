"""MCP (the Model Context Protocol) over JSON-RPC 2.0: what each message means, for both ways in
(``POST /mcp``, whose HTTP rules are ``episodes.mcp_http``, and WebSocket ``{"type": "mcp"}`` frames).

Messages and results are the official SDK's wire types (``mcp_types``). Methods: ``initialize``
(protocol versions 2024-11-05 to 2025-11-25, the handshake era), ``server/discover`` (2026-07-28,
the per-request era), ``ping``, ``tools/list`` and ``tools/call`` (``episodes.mcp_tools``), and
OpenEnv's session methods ``openenv/session/create`` and ``openenv/session/close``: a tool call
naming a ``session_id`` acts on the episode that session's WebSocket (``/ws?session_id=``) reset.
A tool's refusal is a result with ``isError: true``; protocol errors are JSON-RPC errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, overload

from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    SERVER_INFO_META_KEY,
    DiscoverResult,
    EmptyResult,
    ErrorData,
    Implementation,
    InitializeResult,
    ListToolsResult,
    ServerCapabilities,
    ToolsCapability,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION, MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel

from envcore.errors import EnvError
from episodes.errors import mcp_tool_error
from episodes.mcp_tools import TOOL_NAMES, tool_call, tools
from episodes.metadata import ENV_NAME
from episodes.sessions import Caller, EpisodeNotFound
from episodes.tool_sessions import tool_session_close, tool_session_create, tool_session_episode

SERVER_VERSION = "1.0.0"
SUPPORTED_VERSIONS = (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS)
SERVER_INFO = Implementation(name=ENV_NAME, version=SERVER_VERSION)
CAPABILITIES = ServerCapabilities(tools=ToolsCapability(list_changed=False))
INSTRUCTIONS = (
    "Review an older patient's medicines: query drug-drug interactions, propose interventions, then finish the "
    "review to be graded. Episodes are started outside the tools (POST /reset, the WebSocket /ws, or the Task API); "
    "a tool acts on the episode its episode_id names, else on the MCP session's (session_id), else on your most "
    "recent open one. A research simulator, not clinical advice."
)


@dataclass(frozen=True)
class McpContext:
    """Who sends a message, and what it acts on by default."""

    caller: Caller
    episode_id: str | None = None  # a WebSocket connection's episode: its frames' tool calls act on it
    modern: bool = False  # the 2026-07-28 era (per-request envelope): no initialize


class McpError(Exception):
    """A JSON-RPC error answer."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.error = ErrorData(code=code, message=message, data=data)


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def error_message(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    # Built by hand, not dumped from JSONRPCError: "id" must appear even when it is null.
    return {"jsonrpc": "2.0", "id": request_id, "error": _dump(ErrorData(code=code, message=message, data=data))}


def result_message(request_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def is_notification(message: Any) -> bool:
    """A well-formed JSON-RPC notification (no ``id``): answered with nothing."""
    return (isinstance(message, dict) and "id" not in message and message.get("jsonrpc") == "2.0"
            and isinstance(message.get("method"), str) and isinstance(message.get("params", {}), (dict, type(None))))


def handle_message(message: Any, context: McpContext) -> dict[str, Any] | None:
    """The answer to one JSON-RPC message; None for a notification."""
    if is_notification(message):
        return None
    request_id = message.get("id") if isinstance(message, dict) else None
    if (not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or not isinstance(message.get("method"), str)
            or not isinstance(request_id, (str, int)) or isinstance(request_id, bool)):
        return error_message(request_id if isinstance(request_id, (str, int)) else None, INVALID_REQUEST,
                             "Invalid request: expected a JSON-RPC 2.0 object with a method and an id.")
    params = message.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return error_message(request_id, INVALID_PARAMS, "Invalid params: expected an object.")
    try:
        return result_message(request_id, _answer(message["method"], params, context))
    except McpError as exc:
        return error_message(request_id, exc.error.code, exc.error.message, exc.error.data)
    except EnvError as exc:  # an unknown session (-32602), or the database failed: no tool ran
        return error_message(request_id, INVALID_PARAMS if exc.status == 404 else INTERNAL_ERROR, exc.message)


def _answer(method: str, params: dict[str, Any], context: McpContext) -> dict[str, Any]:
    if method == "initialize" and not context.modern:
        requested = params.get("protocolVersion")
        version = requested if requested in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION
        return _dump(InitializeResult(protocol_version=version, capabilities=CAPABILITIES, server_info=SERVER_INFO,
                                      instructions=INSTRUCTIONS))
    if method == "server/discover":
        return _dump(DiscoverResult(supported_versions=list(SUPPORTED_VERSIONS), capabilities=CAPABILITIES,
                                    instructions=INSTRUCTIONS, _meta={SERVER_INFO_META_KEY: _dump(SERVER_INFO)}))
    if method == "ping":
        return _dump(EmptyResult())
    if method == "tools/list":
        return _dump(ListToolsResult(tools=list(tools())))
    if method == "tools/call":
        return _tools_call(params, context)
    if method == "openenv/session/create":
        return {"session_id": tool_session_create(context.caller)}
    if method == "openenv/session/close":
        session_id = _session_id(params, required=True)
        tool_session_close(context.caller, session_id)
        return {"session_id": session_id, "closed": True}
    raise McpError(METHOD_NOT_FOUND, f"Method not found: {method}")


@overload
def _session_id(params: dict[str, Any], *, required: Literal[True]) -> str: ...
@overload
def _session_id(params: dict[str, Any], *, required: bool = False) -> str | None: ...
def _session_id(params: dict[str, Any], *, required: bool = False) -> str | None:
    session_id = params.get("session_id")
    if session_id is None and not required:
        return None
    if not isinstance(session_id, str) or not session_id:
        raise McpError(INVALID_PARAMS, "Invalid params: session_id must be the string openenv/session/create gave.")
    return session_id


def _tools_call(params: dict[str, Any], context: McpContext) -> dict[str, Any]:
    name = params.get("name")
    if name not in TOOL_NAMES:
        raise McpError(INVALID_PARAMS, f"Unknown tool {name!r}; expected one of {', '.join(TOOL_NAMES)}.")
    arguments = params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise McpError(INVALID_PARAMS, "Invalid params: arguments must be an object.")
    episode_id = context.episode_id
    session_id = _session_id(params)
    if session_id is not None:
        episode_id = tool_session_episode(context.caller, session_id) or episode_id
        if episode_id is None and not arguments.get("episode_id"):
            return mcp_tool_error(EpisodeNotFound(
                f"Session {session_id} has no episode yet: reset it first (WebSocket /ws?session_id={session_id}), "
                "or pass episode_id.", field="session_id"))
    return _dump(tool_call(context.caller, name, arguments, episode_id=episode_id))
