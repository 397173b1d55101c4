"""Server throughput on the reference's workload, over HTTP and WebSocket.

Per client, repeatedly: reset budgeted_screening with a seed, query the first budget-many pairs
of the medication list, finish. Every step is persisted by the server. Prints steps/s and
p50/p99 step latency per case (resets are not counted as steps, as in the reference).

    # against a server started here (its own fresh database: PostgreSQL if DATABASE_URL says so)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/server_throughput.py
    # against a running server
    .venv/bin/python bench/server_throughput.py --url http://127.0.0.1:8000

Cases: --cases ws:1,ws:8,http:1,http:8 (default) and --durability full|fast|both.
The client runs on the same 2-core machine as the server, as in the reference's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from itertools import combinations, islice
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _pairs(obs: dict) -> list[tuple[str, str]]:
    drugs = [m["drug_id"] for m in obs["current_medications"]]
    return list(islice(combinations(drugs, 2), obs["remaining_query_budget"]))


class HttpClient:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams (no third-party dependency)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n".encode() + data
        )
        status = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        if b" 200 " not in status:
            raise RuntimeError(f"{path}: {status.decode().strip()} {payload[:300]!r}")
        return json.loads(payload)

    async def close(self) -> None:
        self.writer.close()


async def http_client(url: str, durability: str, seed0: int, deadline: float, latencies: list[float]) -> int:
    client = HttpClient(url)
    await client.open()
    steps, seed = 0, seed0
    while time.perf_counter() < deadline:
        reply = await client.post("/reset", {"seed": seed, "task_id": "budgeted_screening", "durability": durability})
        obs = reply["observation"]
        episode_id = obs["episode_id"]
        actions = [{"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b} for a, b in _pairs(obs)]
        actions.append({"action_type": "finish_review"})
        for action in actions:
            started = time.perf_counter()
            await client.post("/step", {"action": action, "episode_id": episode_id})
            latencies.append(time.perf_counter() - started)
            steps += 1
        seed += 1
    await client.close()
    return steps


async def ws_client(url: str, durability: str, seed0: int, deadline: float, latencies: list[float]) -> int:
    import websockets

    steps, seed = 0, seed0
    async with websockets.connect(url.replace("http://", "ws://") + "/ws", max_size=None) as ws:
        async def roundtrip(frame: dict) -> dict:
            await ws.send(json.dumps(frame))
            reply = json.loads(await ws.recv())
            if reply["type"] == "error":
                raise RuntimeError(reply["data"])
            return reply["data"]

        while time.perf_counter() < deadline:
            data = await roundtrip({"type": "reset", "data": {"seed": seed, "task_id": "budgeted_screening", "durability": durability}})
            obs = data["observation"]
            actions = [{"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b} for a, b in _pairs(obs)]
            actions.append({"action_type": "finish_review"})
            for action in actions:
                started = time.perf_counter()
                await roundtrip({"type": "step", "data": action})
                latencies.append(time.perf_counter() - started)
                steps += 1
            seed += 1
    return steps


async def run_case(url: str, transport: str, clients: int, durability: str, seconds: float) -> dict:
    latencies: list[float] = []
    runner = ws_client if transport == "ws" else http_client
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    counts = await asyncio.gather(*(runner(url, durability, 1000 * i, deadline, latencies) for i in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "case": f"{transport} x{clients} {durability}",
        "steps": sum(counts),
        "steps_per_s": sum(counts) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server; default: start one here")
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument("--cases", default="ws:1,ws:8,http:1,http:8")
    parser.add_argument("--durability", choices=("full", "fast", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    durabilities = ("full", "fast") if args.durability == "both" else (args.durability,)
    cases = [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases.split(",")]

    server = None
    url = args.url
    if url is None:
        from polypharmacy_site.live_server import LiveServer

        server = LiveServer(server=args.server).__enter__()
        url = server.url
        print(f"started {args.server} at {url} (database: {server.env['DATABASE_URL'] or 'SQLite'})")
    try:
        print("| case | steps | steps/s | p50 ms | p99 ms |")
        print("|---|---|---|---|---|")
        for transport, clients in cases:
            for durability in durabilities:
                asyncio.run(run_case(url, transport, clients, durability, 1.0))  # warm up
                r = asyncio.run(run_case(url, transport, clients, durability, args.seconds))
                print(f"| {r['case']} | {r['steps']} | {r['steps_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |", flush=True)
    finally:
        if server is not None:
            server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
