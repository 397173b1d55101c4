"""Server throughput on the reference's workload, over HTTP and WebSocket, side by side with
another OpenEnv server in the same run.

Per client, repeatedly: reset budgeted_screening with a seed, query the first budget-many pairs
of the medication list, finish. Every step is persisted by this server. Prints steps/s and
p50/p99 step latency per case (resets are not counted as steps, as in the reference).

    # against a server started here (its own fresh database: PostgreSQL if DATABASE_URL says so)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/server_throughput.py
    # the same workload against another server too (the seed PolypharmacyEnv, say), interleaved
    .venv/bin/python bench/server_throughput.py --against http://127.0.0.1:8801
    # against a running server of ours
    .venv/bin/python bench/server_throughput.py --url http://127.0.0.1:8000

Cases (``--cases``): ``ws:N`` and ``http:N`` (N concurrent clients, each with its own session),
default ws:1,http:1,ws:8,ws:64, each under ``--durability full``, ``fast`` or ``both``. With
``--against``, every 1-client case also runs against that server, alternating rounds (``--rounds``)
so that both see the same machine; the table gives each side's median round and the ratio, and
for N > 1 clients the ratio is to the other server's 1-client rate over the same transport (the
reference serves one WebSocket session at a time). The client runs on the same 2-core machine as
the servers, as in the reference's figures.
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


def _actions(obs: dict) -> list[dict]:
    actions = [{"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b} for a, b in _pairs(obs)]
    return actions + [{"action_type": "finish_review"}]


def _reset_body(seed: int, durability: str | None) -> dict:
    body: dict = {"seed": seed, "task_id": "budgeted_screening"}
    if durability is not None:  # another server knows no durability
        body["durability"] = durability
    return body


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
        length, chunked = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        payload = await (self._chunks() if chunked else self.reader.readexactly(length))
        if b" 200 " not in status:
            raise RuntimeError(f"{path}: {status.decode().strip()} {payload[:300]!r}")
        return json.loads(payload)

    async def _chunks(self) -> bytes:
        out = b""
        while True:
            size = int((await self.reader.readline()).strip(), 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return out
            out += chunk[:-2]

    async def close(self) -> None:
        self.writer.close()


async def http_client(url: str, durability: str | None, seed0: int, deadline: float, latencies: list[float]) -> int:
    client = HttpClient(url)
    await client.open()
    steps, seed = 0, seed0
    while time.perf_counter() < deadline:
        obs = (await client.post("/reset", _reset_body(seed, durability)))["observation"]
        for action in _actions(obs):
            started = time.perf_counter()
            await client.post("/step", {"action": action, "episode_id": obs["episode_id"]})
            latencies.append(time.perf_counter() - started)
            steps += 1
        seed += 1
    await client.close()
    return steps


async def ws_client(url: str, durability: str | None, seed0: int, deadline: float, latencies: list[float]) -> int:
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
            obs = (await roundtrip({"type": "reset", "data": _reset_body(seed, durability)}))["observation"]
            for action in _actions(obs):
                started = time.perf_counter()
                await roundtrip({"type": "step", "data": action})
                latencies.append(time.perf_counter() - started)
                steps += 1
            seed += 1
    return steps


async def run_case(url: str, transport: str, clients: int, durability: str | None, seconds: float) -> dict:
    latencies: list[float] = []
    runner = ws_client if transport == "ws" else http_client
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    counts = await asyncio.gather(*(runner(url, durability, 1000 * i, deadline, latencies) for i in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "steps": sum(counts),
        "steps_per_s": sum(counts) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


def measure(url: str, transport: str, clients: int, durability: str | None, seconds: float) -> dict:
    asyncio.run(run_case(url, transport, clients, durability, min(1.0, seconds)))  # warm up
    return asyncio.run(run_case(url, transport, clients, durability, seconds))


def median_round(rounds: list[dict]) -> dict:
    return sorted(rounds, key=lambda r: r["steps_per_s"])[len(rounds) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server of ours; default: start one here")
    parser.add_argument("--against", help="another OpenEnv server to run the same workload against")
    parser.add_argument("--cases", default="ws:1,http:1,ws:8,ws:64")
    parser.add_argument("--durability", choices=("full", "fast", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per case (median reported)")
    args = parser.parse_args()
    durabilities = ("full", "fast") if args.durability == "both" else (args.durability,)
    cases = [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases.split(",")]

    server = None
    url = args.url
    if url is None:
        from testsupport.live_server import LiveServer

        server = LiveServer().__enter__()
        url = server.url
        print(f"started {url} (database: {server.env['DATABASE_URL'] or 'SQLite'})")
    try:
        other_rounds: dict[str, list[dict]] = {}
        if args.against:
            print(f"against {args.against}")
        print("| case | steps | steps/s | p50 ms | p99 ms |" + (" other steps/s | ratio |" if args.against else ""))
        print("|---|---|---|---|---|" + ("---|---|" if args.against else ""))
        for transport, clients in cases:
            for durability in durabilities:
                ours, theirs = [], []
                for _ in range(args.rounds):
                    ours.append(measure(url, transport, clients, durability, args.seconds))
                    if args.against and clients == 1:
                        theirs.append(measure(args.against, transport, 1, None, args.seconds))
                other_rounds.setdefault(transport, []).extend(theirs)
                r = median_round(ours)
                line = (f"| {transport} x{clients} {durability} | {r['steps']} | {r['steps_per_s']:,.0f} | "
                        f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
                if args.against and other_rounds.get(transport):
                    # This case's own alternating rounds; for N clients, the other server's 1 client.
                    other = median_round(theirs or other_rounds[transport])["steps_per_s"]
                    line += f" {other:,.0f} | {r['steps_per_s'] / other:.2f}× |"
                print(line, flush=True)
    finally:
        if server is not None:
            server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
