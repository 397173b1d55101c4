"""Drive a running PolypharmacyEnv server with OpenEnv 0.10's ``MCPToolClient`` (production mode).

Run INSIDE ``.venv-openenv-0.10.0`` (``bin/openenv-clients``); it imports only the OpenEnv library
and the standard library:

    .venv-openenv-0.10.0/bin/python clients/openenv_mcp_episode.py --url http://127.0.0.1:8000

The client opens an MCP session over HTTP (``openenv/session/create``), attaches its WebSocket to
it (``/ws?session_id=``) and resets there; the agent's tools (``list_tools``, ``call_tool``) then act
on that episode over HTTP, naming the session. On every task: a full episode (queries, an
intervention, finish_review with a grader score), ``state()`` counting the tool calls' steps, and,
after the client closes, the session refused. Prints a JSON summary; exits 1 when a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
import urllib.request
from typing import Any

from openenv.core.mcp_client import MCPToolClient

TASKS = ("easy_screening", "budgeted_screening", "complex_tradeoff")


def checks_for(results: list[dict[str, Any]]):
    def check(name: str, ok: bool, detail: Any = None) -> None:
        results.append({"check": name, "ok": bool(ok), **({"detail": detail} if not ok else {})})
    return check


def mcp_post(url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(f"{url}/mcp", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


async def episode(check: Any, url: str, task_id: str) -> dict[str, Any]:
    async with MCPToolClient(base_url=url) as env:
        session_id = env._production_session_id  # the library's own record of the session it opened
        result = await env.reset(task_id=task_id, seed=0)
        obs = result.observation.model_dump()
        drugs = [med["drug_id"] for med in obs.get("current_medications", [])]
        check(f"{task_id}: reset over the session's WebSocket starts an episode of the task",
              obs.get("task_id") == task_id and result.done is False and len(drugs) >= 2, obs)
        tools = [tool.name for tool in await env.list_tools()]
        check(f"{task_id}: the agent's tools are the three actions", tools == ["query_ddi", "propose_intervention",
                                                                              "finish_review"], tools)
        steps = 0
        for other in drugs[1:3]:
            answer = await env.call_tool("query_ddi", drug_id_1=drugs[0], drug_id_2=other)
            steps += 1
            structured = answer.get("structuredContent") or {}
            check(f"{task_id}: query_ddi acts on the session's episode",
                  answer.get("isError") is False and structured.get("observation", {}).get("episode_id") == obs["episode_id"]
                  and structured["observation"]["step_index"] == steps, answer)
        answer = await env.call_tool("propose_intervention", target_drug_id=drugs[0], intervention_type="add_monitoring",
                                     rationale="MCPToolClient check")
        steps += 1
        check(f"{task_id}: propose_intervention is a step", answer.get("isError") is False, answer)
        bad = await env.call_tool("query_ddi", drug_id_1=drugs[0])
        check(f"{task_id}: a malformed call is an isError result and no step",
              bad.get("isError") is True and "drug_id_2" in bad["content"][0]["text"], bad)
        answer = await env.call_tool("finish_review")
        steps += 1
        final = (answer.get("structuredContent") or {})
        score = final.get("observation", {}).get("grader_score")
        check(f"{task_id}: finish_review ends it with a grader score in [0.001, 0.999]",
              final.get("done") is True and score is not None and 0.001 <= score <= 0.999, answer)
        state = await env.state()
        check(f"{task_id}: state() over the WebSocket counts the tool calls' steps",
              state.episode_id == obs["episode_id"] and state.step_count == steps, state.model_dump())
    after = mcp_post(url, "tools/call", {"name": "finish_review", "arguments": {}, "session_id": session_id})
    check(f"{task_id}: closing the client closed its session",
          "Unknown session_id" in after.get("error", {}).get("message", ""), after)
    return {"session_id": session_id, "grader_score": score}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    results: list[dict[str, Any]] = []
    check = checks_for(results)
    observed = {}
    for task_id in TASKS:
        try:
            observed[task_id] = asyncio.run(episode(check, url, task_id))
        except Exception as exc:
            check(f"{task_id}: stopped by {type(exc).__name__}: {str(exc)[:200]}", False,
                  "".join(traceback.format_exception(exc))[-3000:])
    failures = [c for c in results if not c["ok"]]
    print(json.dumps({"ok": not failures and bool(results), "failures": failures, "observed": observed,
                      "checks": results}, indent=2, default=str))
    return 0 if results and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
