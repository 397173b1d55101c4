"""Drive a running PolypharmacyEnv server's /mcp with the official MCP SDK and with FastMCP.

Run INSIDE the client venv (``bin/openenv-clients mcp-2.3.0``); it imports only those libraries and
the standard library, never the project:

    .venv-mcp-2.3.0/bin/python clients/mcp_episode.py --url http://127.0.0.1:8000

Clients: ``mcp`` (the SDK's ``Client`` as it connects by default: its newest protocol version,
2026-07-28, found by ``server/discover``), ``mcp-handshake`` (the same forced to the initialize
handshake: 2025-11-25) and ``fastmcp`` (FastMCP's ``Client``). For each: the tools are the three
actions, their schemas valid JSON Schema 2020-12 with no OpenAPI ``nullable``; then on every task
an episode started over HTTP (``POST /reset``: starting episodes is orchestration, not a tool) is
played to its end through the tools, each answer read from ``structuredContent`` (which the SDK
checks against the tool's ``outputSchema``); a malformed call is an ``isError`` result and the
episode goes on. Prints a JSON summary; exits 1 when a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
import urllib.request
from typing import Any

import fastmcp
import jsonschema
from mcp import Client

TASKS = ("easy_screening", "budgeted_screening", "complex_tradeoff")
ACTION_TOOLS = ["query_ddi", "propose_intervention", "finish_review"]


class Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []
        self.observed: dict[str, Any] = {}

    def check(self, name: str, ok: bool, detail: Any = None) -> None:
        self.checks.append({"check": name, "ok": bool(ok), **({"detail": detail} if not ok else {})})


def reset(url: str, task_id: str, seed: int) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/reset", data=json.dumps({"task_id": task_id, "seed": seed}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["observation"]


class Adapter:
    """One client library behind the same three calls."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind, self.url = kind, url
        if kind == "fastmcp":
            self.client: Any = fastmcp.Client(f"{url}/mcp")
        else:
            self.client = Client(f"{url}/mcp", mode="legacy" if kind == "mcp-handshake" else "auto")

    async def __aenter__(self) -> "Adapter":
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.client.__aexit__(*exc)

    def protocol_version(self) -> str:
        if self.kind == "fastmcp":
            result = self.client.initialize_result
            return getattr(result, "protocol_version", None) or str(getattr(self.client, "protocol_version", ""))
        return self.client.protocol_version

    async def tools(self) -> list[dict[str, Any]]:
        tools = await self.client.list_tools()
        tools = getattr(tools, "tools", tools)
        return [tool.model_dump(by_alias=True, exclude_none=True) for tool in tools]

    async def call(self, name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
        """(isError, structuredContent or the error's text)."""
        if self.kind == "fastmcp":
            result = await self.client.call_tool(name, arguments, raise_on_error=False)
        else:
            result = await self.client.call_tool(name, arguments)
        if result.is_error:
            return True, result.content[0].text
        if json.loads(result.content[0].text) != result.structured_content:
            raise AssertionError("the text content is not the structured content as JSON")
        return False, result.structured_content


async def run_client(report: Report, kind: str, url: str) -> None:
    async with Adapter(kind, url) as client:
        report.observed.setdefault("protocol_versions", {})[kind] = client.protocol_version()
        tools = await client.tools()
        names = [tool["name"] for tool in tools]
        report.check(f"{kind}: the tools are the three actions (no reset or state)", names == ACTION_TOOLS, names)
        report.check(f"{kind}: no OpenAPI nullable in the schemas", '"nullable"' not in json.dumps(tools))
        for tool in tools:
            for key in ("inputSchema", "outputSchema"):
                try:
                    jsonschema.Draft202012Validator.check_schema(tool[key])
                    ok, detail = True, None
                except (KeyError, jsonschema.SchemaError) as exc:
                    ok, detail = False, str(exc)[:300]
                report.check(f"{kind}: {tool['name']}'s {key} is JSON Schema 2020-12", ok, detail)
        for task_id in TASKS:
            await play(report, client, kind, url, task_id)


async def play(report: Report, client: Adapter, kind: str, url: str, task_id: str) -> None:
    name = f"{kind}: {task_id}"
    observation = reset(url, task_id, 0)
    episode_id = observation["episode_id"]
    drugs = [med["drug_id"] for med in observation["current_medications"]]
    steps = 0
    error, text = await client.call("query_ddi", {"drug_id_1": drugs[0], "episode_id": episode_id})
    report.check(f"{name}: a call missing drug_id_2 is an isError result naming it", error and "drug_id_2" in text, text)
    for other in drugs[1:3]:
        error, answer = await client.call("query_ddi", {"drug_id_1": drugs[0], "drug_id_2": other,
                                                        "episode_id": episode_id})
        steps += 1
        report.check(f"{name}: query_ddi is a step", not error and answer["observation"]["step_index"] == steps
                     and answer["done"] is False and 0.001 <= answer["reward"] <= 0.999, answer)
    error, answer = await client.call("propose_intervention", {"target_drug_id": "DRUG_NOT_IN_REGIMEN",
                                                                "intervention_type": "stop", "episode_id": episode_id})
    steps += 1
    report.check(f"{name}: a well-formed refused action is a penalised step, not an error",
                 not error and answer["observation"]["last_action_error"] and answer["reward"] == 0.001, answer)
    error, answer = await client.call("finish_review", {"episode_id": episode_id})
    steps += 1
    score = answer["observation"]["grader_score"] if not error else None
    report.check(f"{name}: finish_review ends it with a grader score in [0.001, 0.999]",
                 not error and answer["done"] is True and score is not None and 0.001 <= score <= 0.999
                 and answer["observation"]["step_index"] == steps, answer)
    report.observed.setdefault("grader_scores", {})[name] = score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", default="mcp,mcp-handshake,fastmcp")
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    report = Report()
    for kind in args.clients.split(","):
        try:
            asyncio.run(run_client(report, kind, url))
        except Exception as exc:
            report.check(f"{kind}: stopped by {type(exc).__name__}: {str(exc)[:200]}", False,
                         "".join(traceback.format_exception(exc))[-3000:])
    failures = [c for c in report.checks if not c["ok"]]
    print(json.dumps({"ok": not failures and bool(report.checks), "failures": failures, "observed": report.observed,
                      "checks": report.checks}, indent=2, default=str))
    return 0 if report.checks and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
