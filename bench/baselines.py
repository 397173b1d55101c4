"""Random, heuristic and oracle scores on every task and catalog, the heuristic normalised between
the first and the last, and the oracle checked against exhaustive search on small patients.

    .venv/bin/python bench/baselines.py [--seeds 10000-10099] [--width 16] [--exhaustive-max-drugs 7]
                                        [--check-width 64]

The oracle (``agents.oracle``) is a full-information planner: it reads the interaction rules that
every other agent must discover by querying. It is the ceiling of the normalised score
((score − random) / (oracle − random), same seeds), not a baseline. Exhaustive search (every
sequence of valid interventions, identical states merged) is run on the easy task's patients and
on the other tasks' patients with at most ``--exhaustive-max-drugs`` drugs; every gap between it
and the beam is printed. ``--check-width W`` also plans the tasks where exhaustive search is not
feasible with a beam of width W and prints every seed where it finds more.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.evaluate import evaluate  # noqa: E402
from agents.normalised import References  # noqa: E402
from agents.oracle import plan  # noqa: E402
from agents.policies import heuristic_policy, random_policy  # noqa: E402
from envcore.env import PolypharmacyEnv  # noqa: E402
from envcore.scenarios import TASKS  # noqa: E402

# Measured from the reference implementation's heuristic on the classic catalog, seeds 0-99.
REFERENCE_HEURISTIC = {"easy_screening": 0.775, "budgeted_screening": 0.436, "complex_tradeoff": 0.222}
# Exhaustive search is feasible on every patient of these tasks (at most 5 drugs on the easy one).
ALWAYS_EXHAUSTIVE = ("easy_screening",)


def parse_range(text: str) -> range:
    low, _, high = text.partition("-")
    return range(int(low), int(high or low) + 1)


def oracle_scores(catalog: str, task: str, seeds: range, width: int, max_drugs: int,
                  check_width: int) -> tuple[list[float], list[tuple[int, float, float]], int, float]:
    """(oracle score per seed, [(seed, beam, better) where exhaustive search or the wider beam
    found more], patients checked, CPU seconds of the beam)."""
    env = PolypharmacyEnv(catalog)
    scores, gaps, checked, beam_cpu = [], [], 0, 0.0
    for seed in seeds:
        obs = env.reset(seed=seed, task_id=task)
        started = time.process_time()
        beam = plan(env, width=width).score
        beam_cpu += time.process_time() - started
        scores.append(beam)
        if task in ALWAYS_EXHAUSTIVE or len(obs.current_medications) <= max_drugs:
            checked += 1
            best = plan(env, exhaustive=True).score
            if abs(best - beam) > 1e-12:
                gaps.append((seed, beam, best))
        elif check_width:
            checked += 1
            wider = plan(env, width=check_width).score
            if wider > beam + 1e-12:
                gaps.append((seed, beam, wider))
    return scores, gaps, checked, beam_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="10000-10099")
    parser.add_argument("--width", type=int, default=16, help="The oracle's beam width.")
    parser.add_argument("--exhaustive-max-drugs", type=int, default=7,
                        help="Check the oracle against exhaustive search on patients with at most this many drugs.")
    parser.add_argument("--check-width", type=int, default=0,
                        help="Where exhaustive search is not feasible, compare with a beam this wide (0: do not).")
    args = parser.parse_args()
    seeds = parse_range(args.seeds)
    reference = args.seeds == "0-99"
    print(f"seeds {seeds.start}-{seeds.stop - 1}; oracle: full-information planner, beam width {args.width}\n")
    print("| catalog | task | random | heuristic | oracle (full information) | heuristic normalised |"
          " oracle checked (equal / patients) | oracle CPU s/episode |" + (" reference heuristic |" if reference else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|" if reference else ""))
    all_gaps = []
    for catalog in ("classic", "curated"):
        for task in TASKS:
            rnd = evaluate(random_policy, task, seeds, catalog)
            heu = evaluate(heuristic_policy, task, seeds, catalog)
            best, gaps, checked, cpu = oracle_scores(catalog, task, seeds, args.width, args.exhaustive_max_drugs,
                                                     args.check_width)
            refs = References(random=rnd.mean, oracle=sum(best) / len(best), episodes=len(best), width=args.width)
            normalised = refs.normalise(heu.mean)
            check = f"{checked - len(gaps)}/{checked} equal" if checked else "not feasible"
            line = (f"| {catalog} | {task} | {rnd.mean:.3f} ± {rnd.std:.3f} | {heu.mean:.3f} ± {heu.std:.3f} | "
                    f"{refs.oracle:.3f} | {'—' if normalised is None else f'{normalised:.3f}'} | {check} | "
                    f"{cpu / len(best):.3f} |")
            if reference:
                line += f" {REFERENCE_HEURISTIC[task]:.3f} |" if catalog == "classic" else " — |"
            print(line, flush=True)
            all_gaps += [(catalog, task, *g) for g in gaps]
    print(f"\nchecked against exhaustive search: every easy_screening patient and the others' patients with at most "
          f"{args.exhaustive_max_drugs} drugs" + (f"; against a beam of width {args.check_width}: the rest" if args.check_width else ""))
    if all_gaps:
        print("gaps (catalog, task, seed, beam, exhaustive search or the wider beam):")
        for gap in all_gaps:
            print("  ", *gap)
    else:
        print("the beam matched exhaustive search (and the wider beam) on every patient checked")


if __name__ == "__main__":
    main()
