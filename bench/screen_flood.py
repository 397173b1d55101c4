"""/health while the heaviest allowed screens arrive at once, against a real server process
(uvicorn, SQLite; anonymous API, as ``bin/run`` serves it by default).

    .venv/bin/python bench/screen_flood.py [--clients 6] [--rounds 3]

A bandit model of the largest allowed width (1,024 hidden units) is trained on the curated
catalog first (a short run: scoring cost is the network's size, not its quality). Each round,
N clients post /bandit/screen at the same moment with the heaviest body allowed (10,000
combinations of 10 drug ids: the 100,000-id limit), while a probe asks for /health every 50 ms.
The same rounds run side by side against two servers: as before the gate (``SCREEN_CONCURRENCY=0``,
and torch on every core, ``OMP_NUM_THREADS`` = the cores) and with the defaults (one
screen at a time per process, torch on one core in a web process: ``polypharmacy_site.serve``). Prints the screens' statuses and wall time and
/health's median, p99 and worst latency per server (target, issue 14: p99 under 200 ms).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import statistics
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import health_probe  # noqa: E402
from testsupport.live_server import LiveServer  # noqa: E402

TRAIN = ("from jobs import services\n"
         "job = services.job_create(kind='bandit_train', params={'catalog': 'curated', 'n_combinations': 2000, "
         "'warmup': 100, 'total_steps': 150, 'warmup_epochs': 2, 'bandit_epochs': 1, 'flag_every': 50, "
         "'hidden': 1024, 'checkpoint_name': 'wide'})\n"
         "job = services.job_execute(job_id=job.pk)\n"
         "assert job.status == 'succeeded', job.error\n"
         "from catalog.selectors import catalog_get\n"
         "print(' '.join(sorted(catalog_get('curated').drugs)))\n")


def heaviest_body(drugs: list[str]) -> bytes:
    rng = random.Random(0)
    combos = [rng.sample(drugs, 10) for _ in range(10_000)]
    return gzip.compress(json.dumps({"combinations": combos, "model": "wide"}).encode())


def screen(url: str, body: bytes) -> int:
    req = urllib.request.Request(url + "/bandit/screen", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            print(f"screen answered {exc.code}: {exc.read()[:300]!r}", file=sys.stderr)
        return exc.code


def flood(url: str, body: bytes, n: int) -> tuple[Counter, float, list[float]]:
    statuses, wall, latencies, worst_at = health_probe.flood(url, n, lambda _i: screen(url, body))
    print(f"  (worst probe sent {worst_at:+.2f} s after the screens)", flush=True)
    return statuses, wall, latencies


def p99(values: list[float]) -> float:
    """Nearest rank: a latency that was measured (interpolation overshoots the worst with few probes)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setups = {"before (no gate, torch on every core)": {"SCREEN_CONCURRENCY": "0", "OMP_NUM_THREADS": str(os.cpu_count() or 1)},
              "gate at its default": {}}
    servers = {label: LiveServer(extra_env={"REDIS_URL": "", **env}) for label, env in setups.items()}
    try:
        for server in servers.values():
            server.__enter__()
        drugs = [w for w in servers["gate at its default"].manage("shell", "-c", TRAIN).split() if w.startswith("DRUG_")]
        servers["before (no gate, torch on every core)"].manage("shell", "-c", TRAIN)
        body = heaviest_body(drugs)
        for server in servers.values():  # the model loaded once, as on a server that has run a while
            screen(server.url, body)
        results: dict[str, list[float]] = {label: [] for label in servers}
        for round_ in range(args.rounds):
            for label, server in servers.items():  # alternated, so both see the same machine
                statuses, wall, latencies = flood(server.url, body, args.clients)
                results[label] += latencies
                print(f"round {round_ + 1}, {label}: screens {dict(statuses)} in {wall:.1f} s; /health median "
                      f"{statistics.median(latencies) * 1000:.0f} ms, p99 {p99(latencies) * 1000:.0f} ms, worst "
                      f"{max(latencies) * 1000:.0f} ms ({len(latencies)} probes)", flush=True)
        for label, latencies in results.items():
            print(f"all rounds, {label}: /health median {statistics.median(latencies) * 1000:.0f} ms, "
                  f"p99 {p99(latencies) * 1000:.0f} ms, worst {max(latencies) * 1000:.0f} ms")
    finally:
        for server in servers.values():
            server.close()


if __name__ == "__main__":
    main()
