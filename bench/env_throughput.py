"""Environment throughput on the reference's workload.

Per episode: reset budgeted_screening with seed s, query the first ``remaining_query_budget``
pairs of the medication list (in list order), finish. Repeat until 10,000 steps. Actions are
plain dicts, as they arrive over the wire, so parsing is part of the cost.

    .venv/bin/python bench/env_throughput.py [--catalog classic|curated] [--steps 10000] [--repeats 3]

Target (issue 2): ≥ 47,000 steps/s on the 2-core CI machine, 10× the reference's 4,700.
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import combinations, islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envcore.catalog import Catalog  # noqa: E402
from envcore.env import PolypharmacyEnv  # noqa: E402

FINISH = {"action_type": "finish_review"}


def run(catalog: Catalog, total_steps: int) -> tuple[int, float]:
    env = PolypharmacyEnv(catalog)
    steps, seed = 0, 0
    started = time.perf_counter()
    while steps < total_steps:
        obs = env.reset(seed=seed, task_id="budgeted_screening")
        drugs = [m.drug_id for m in obs.current_medications]
        for a, b in islice(combinations(drugs, 2), obs.remaining_query_budget):
            env.step({"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b})
            steps += 1
        env.step(FINISH)
        steps += 1
        seed += 1
    return steps, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", choices=("classic", "curated", "both"), default="both")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="report the best of N runs")
    args = parser.parse_args()
    names = ("classic", "curated") if args.catalog == "both" else (args.catalog,)
    for name in names:
        catalog = Catalog.load(name)
        run(catalog, 200)  # warm the per-patient caches and the interpreter
        rates = []
        for _ in range(args.repeats):
            steps, seconds = run(catalog, args.steps)
            rates.append(steps / seconds)
        print(
            f"env_throughput catalog={name} steps={args.steps} "
            f"best={max(rates):,.0f} steps/s median={sorted(rates)[len(rates) // 2]:,.0f} steps/s"
        )


if __name__ == "__main__":
    main()
