"""Mean ± std grader score of the random and heuristic policies on every task and catalog.

    .venv/bin/python bench/baselines.py [--seeds 0-99]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.evaluate import evaluate  # noqa: E402
from agents.policies import heuristic_policy, random_policy  # noqa: E402
from envcore.scenarios import TASKS  # noqa: E402

# Measured from the reference implementation's heuristic on the classic catalog, seeds 0-99.
REFERENCE_HEURISTIC = {"easy_screening": 0.775, "budgeted_screening": 0.436, "complex_tradeoff": 0.222}


def parse_range(text: str) -> range:
    low, _, high = text.partition("-")
    return range(int(low), int(high or low) + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-99")
    args = parser.parse_args()
    seeds = parse_range(args.seeds)
    print("| catalog | task | random | heuristic | reference heuristic (classic) |")
    print("|---|---|---|---|---|")
    for catalog in ("classic", "curated"):
        for task in TASKS:
            rnd = evaluate(random_policy, task, seeds, catalog)
            heu = evaluate(heuristic_policy, task, seeds, catalog)
            ref = f"{REFERENCE_HEURISTIC[task]:.3f}" if catalog == "classic" else "—"
            print(
                f"| {catalog} | {task} | {rnd.mean:.3f} ± {rnd.std:.3f} | "
                f"{heu.mean:.3f} ± {heu.std:.3f} | {ref} |"
            )


if __name__ == "__main__":
    main()
