"""The agent's MCP tools, derived from the contract (``envcore.contract``): one per action type.

``query_ddi``, ``propose_intervention`` and ``finish_review`` take the action's own fields (their
``inputSchema`` is the action model's JSON Schema, nullability as ``anyOf [..., null]``) plus an
optional ``episode_id``; each answers the step's ``{observation, reward, done}`` as
``structuredContent`` (described by ``outputSchema``, the contract's StepResponse) and as JSON
text for clients that read text only. reset, step, state and close are orchestration, not agent
tools (OpenEnv reserves those names): a trainer starts episodes over ``/reset``, ``/ws`` or the
Task API, and the agent acts on them here. A refused call is a result with ``isError: true``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from mcp_types import CallToolResult, TextContent, Tool, ToolAnnotations
from pydantic import BaseModel
from pydantic_core import to_json

from envcore.contract import ACTION_TYPES, StepResponse, tool_arguments_model, validate
from envcore.errors import EnvError
from episodes.errors import mcp_tool_error
from episodes.services import wire_payload
from episodes.sessions import Caller
from episodes.steps import episode_step

TOOL_NAMES = ACTION_TYPES
_TITLES = {"query_ddi": "Query an interaction", "propose_intervention": "Propose an intervention",
           "finish_review": "Finish the review"}
_DESCRIPTIONS = {
    "query_ddi": "Look up the interaction between two drugs of the regimen (costs one query).",
    "propose_intervention": "Stop, dose-reduce, substitute or monitor a drug of the regimen (costs one intervention).",
    "finish_review": "End the review and get the grader score.",
}
_ARGUMENTS: dict[str, type[BaseModel]] = {name: tool_arguments_model(name) for name in TOOL_NAMES}


@lru_cache(maxsize=1)
def tools() -> tuple[Tool, ...]:
    output_schema = StepResponse.model_json_schema()
    return tuple(
        Tool(name=name, title=_TITLES[name], description=_DESCRIPTIONS[name],
             input_schema=model.model_json_schema(), output_schema=output_schema,
             # Hints for clients: a step changes the episode, never undoes anything, and reaches
             # nothing outside this server.
             annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                         open_world_hint=False))
        for name, model in _ARGUMENTS.items()
    )


def tool_call(caller: Caller, name: str, arguments: dict[str, Any], *, episode_id: str | None = None) -> CallToolResult:
    """Run tool ``name`` (one of ``TOOL_NAMES``) as one step of the episode the arguments name,
    else ``episode_id`` (the session's), else the caller's most recent open one."""
    try:
        args = validate(_ARGUMENTS[name], arguments)
        fields = args.model_dump(exclude_none=True, exclude={"episode_id"})
        result = episode_step(caller, action={"action_type": name, **fields},
                              episode_id=args.episode_id or episode_id)
    except EnvError as exc:
        return CallToolResult.model_validate(mcp_tool_error(exc))
    payload = wire_payload(result.observation)
    return CallToolResult(content=[TextContent(type="text", text=to_json(payload).decode())],
                          structured_content=payload, is_error=False)
