"""Imitation rows, labelled as such: behaviour cloning of the planner's demonstrations and, given
an export of recorded reviews, of people, scored greedily on the test seeds beside the references.

    .venv/bin/python bench/imitation.py [--demo-seeds 300] [--epochs 40] [--reviews FILE.jsonl]
                                        [--catalogs classic,curated] [--tasks …]

Planner demonstrations are the full-information planner's episodes (``agents.oracle``: it reads
the interaction rules) on training seeds 100000…; the student (``agents.learning.imitation``) sees
only what any agent sees. ``--reviews`` takes ``manage.py export_episodes`` output (for example
the review sessions of a site) and clones each catalog's and task's steps in it; by default the
committed fixture ``fixtures/reviews/recorded_reviews.jsonl``, whose reviewer is scripted (the
heuristic acting through the review services: ``bench/record_reviews.py``), not a pharmacist, so
its rows say so. Test seeds 10000–10099, never used for demonstrations. Pure RL is
``bench/train_matrix.py``; this is the comparison beside it, not a replacement.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from agents.evaluate import evaluate  # noqa: E402
from agents.learning.agent import model_policy  # noqa: E402
from agents.learning.imitation import (  # noqa: E402
    CloneConfig, Demonstrations, behaviour_clone, export_demonstrations, policy_demonstrations,
)
from agents.learning.ppo import TEST_SEEDS, TRAIN_SEED_LOW  # noqa: E402
from agents.normalised import format_normalised, references  # noqa: E402
from agents.oracle import OraclePolicy  # noqa: E402
from envcore.catalog import Catalog  # noqa: E402
from envcore.scenarios import TASKS  # noqa: E402

RECORDED_REVIEWS = Path(__file__).resolve().parents[1] / "fixtures" / "reviews" / "recorded_reviews.jsonl"


def reviews_label(path: Path) -> str:
    """The rows' source: the committed fixture is a scripted reviewer's, and must never read as people's."""
    if path.resolve() == RECORDED_REVIEWS:
        return "recorded reviews (scripted reviewer fixture)"
    return f"recorded reviews ({path.name})"


def row(catalog: str, task: str, demos: Demonstrations, config: CloneConfig, demo_cpu: float | None = None) -> str:
    demo_time = "—" if demo_cpu is None else f"{demo_cpu:.1f} s"
    if not len(demos):
        return f"| {catalog} | {task} | {demos.source} | 0 | — | — | — | {demo_time} | — |"
    result = behaviour_clone(demos, config)
    score = evaluate(model_policy(result.model), task, TEST_SEEDS, catalog)
    refs = references(catalog, task, TEST_SEEDS)
    return (f"| {catalog} | {task} | {demos.source} | {demos.episodes} ({len(demos)} steps) | "
            f"{score.mean:.3f} ± {score.std:.3f} | {format_normalised(refs.normalise(score.mean))} | "
            f"{refs.random:.3f} · {refs.oracle:.3f} | {demo_time} | {result.cpu_time_s:.1f} s |")


def imitation_rows(catalogs: list[str], tasks: list[str], *, demo_seeds: int = 300, epochs: int = 40,
                   reviews: Path = RECORDED_REVIEWS) -> list[str]:
    """The imitation rows in ``bench/train_matrix.py``'s columns, labelled as imitation: cloning
    of planner demonstrations and of the recorded reviews, one clone each (seed 0); the score's
    ± is over the test episodes, not over training seeds."""
    torch.set_num_threads(1)
    config = CloneConfig(epochs=epochs, seed=0)
    records = [json.loads(line) for line in reviews.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = []
    for catalog in catalogs:
        for task in tasks:
            started = time.process_time()
            planner = policy_demonstrations(OraclePolicy(), catalog, task,
                                            range(TRAIN_SEED_LOW, TRAIN_SEED_LOW + demo_seeds),
                                            source="the planner (full information)")
            demo_cpu = time.process_time() - started
            people = export_demonstrations(records, Catalog.load(catalog), reviews_label(reviews), task_id=task)
            refs = references(catalog, task, TEST_SEEDS)
            for demos, cpu in ((planner, demo_cpu), (people, 0.0)):
                if not len(demos):
                    continue
                result = behaviour_clone(demos, config)
                score = evaluate(model_policy(result.model), task, TEST_SEEDS, catalog)
                lines.append(
                    f"| {catalog} | {task} | imitation (behaviour cloning) of {demos.source}, {demos.episodes} "
                    f"episodes | {score.mean:.3f} (± {score.std:.3f} over test episodes) | {score.mean / refs.oracle:.1%} | "
                    f"{format_normalised(refs.normalise(score.mean))} | {refs.random:.3f} | — | {refs.oracle:.3f} | — | "
                    f"{len(demos)} demonstrated steps | {cpu + result.cpu_time_s:.0f} s |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-seeds", type=int, default=300, help="Planner episodes per task.")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reviews", type=Path, default=RECORDED_REVIEWS,
                        help="export_episodes lines to imitate (default: the committed scripted-reviewer "
                             "fixture, fixtures/reviews/recorded_reviews.jsonl).")
    parser.add_argument("--catalogs", default="classic,curated")
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args()
    torch.set_num_threads(1)  # reproducible, and the figures are CPU seconds of one thread
    config = CloneConfig(epochs=args.epochs, seed=args.seed)
    records = [json.loads(line) for line in args.reviews.read_text(encoding="utf-8").splitlines() if line.strip()]
    print("Imitation (behaviour cloning; not reinforcement learning), greedy on test seeds "
          f"{TEST_SEEDS.start}–{TEST_SEEDS.stop - 1}\n")
    print("| catalog | task | demonstrations of | episodes | score | normalised | random · oracle | "
          "demonstrations CPU | cloning CPU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for catalog in args.catalogs.split(","):
        for task in args.tasks.split(","):
            seeds = range(TRAIN_SEED_LOW, TRAIN_SEED_LOW + args.demo_seeds)
            started = time.process_time()
            demos = policy_demonstrations(OraclePolicy(), catalog, task, seeds,
                                          source="the planner (full information)")
            print(row(catalog, task, demos, config, time.process_time() - started), flush=True)
            if records:
                people = export_demonstrations(records, Catalog.load(catalog), reviews_label(args.reviews),
                                               task_id=task)
                print(row(catalog, task, people, config), flush=True)


if __name__ == "__main__":
    main()
