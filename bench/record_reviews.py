"""Record the test fixture of reviews: a SCRIPTED reviewer, not a pharmacist's judgement.

    .venv/bin/python bench/record_reviews.py [--per-task 8] [--out fixtures/reviews/recorded_reviews.jsonl]

The "pharmacist" here is scripted: the rule-based heuristic (``agents.policies.heuristic_policy``)
decides every action, and a pharmacist account takes it through the review services
(``reviews.services.review_start`` / ``review_step`` / ``review_finish``) as a pharmacist would
through the review pages. What comes out is a test fixture of the recorded-review path (review
session → ``export_episodes --reviews-only`` → ``agents.learning.imitation.export_demonstrations``),
not clinical judgement, and not data about any person.

On a throwaway database (``bench.throwaway_site``) with both catalogs loaded, for each catalog
(classic, curated) and task it reviews the patients that training seeds 100000… pick
(``envcore.scenarios.select_patient``, the environment's own seed → patient mapping), each patient
once, then writes ``manage.py export_episodes --reviews-only`` to ``--out``. The export's episode
ids are random (uuid4) and appear in every observation; the writer replaces each with a uuid5 of
(catalog, task, patient), so a rerun writes the same bytes. Nothing else in the export varies
(it carries no timestamps or user identities).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throwaway_site import throwaway_site  # noqa: E402
from envcore.catalog import CATALOG_NAMES  # noqa: E402

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "fixtures" / "reviews" / "recorded_reviews.jsonl"
# The namespace of the fixture's stable episode ids (uuid5 of "catalog/task/patient").
EPISODE_ID_NAMESPACE = uuid.UUID("5b0e4c36-7d0a-4c35-9a55-4f3c0d6e2a11")


def seed_patients(catalog_name: str, task_id: str, seeds: range) -> list[str]:
    """The distinct patients the seeds pick, in the order first picked."""
    from catalog.selectors import catalog_get
    from envcore.scenarios import TASKS, select_patient

    catalog, picked = catalog_get(catalog_name), []
    for seed in seeds:
        patient = select_patient(catalog, TASKS[task_id], seed=seed, patient_id=None, rng=random.Random(0)).patient_id
        if patient not in picked:
            picked.append(patient)
    return picked


def scripted_review(user: User, catalog_name: str, task_id: str, patient_id: str) -> int:
    """One finished review of ``patient_id``, the heuristic deciding; its number of steps."""
    from agents.policies import heuristic_policy
    from catalog.selectors import catalog_get
    from episodes import selectors as episode_selectors
    from reviews import services
    from reviews.audit import RequestMeta

    meta = RequestMeta(user=user, ip="127.0.0.1", user_agent="bench/record_reviews.py (scripted reviewer)")
    catalog = catalog_get(catalog_name)
    session = services.review_start(meta=meta, patient_id=patient_id, task_id=task_id, catalog_name=catalog_name)
    # The reset observation, as the review page shows it: from the episode's stored snapshot.
    snapshot = episode_selectors.stored_snapshot(session.episode.pk)
    assert snapshot is not None  # a review's episode is fully durable: stored from its start
    reset = episode_selectors.episode_env(catalog_name, snapshot, session.episode.episode_id).observation
    assert reset is not None
    obs = reset.to_dict()
    while not (obs["terminated"] or obs["truncated"]):
        action = heuristic_policy(obs, catalog=catalog, rng=random.Random(0))
        if action["action_type"] == "finish_review":
            outcome = services.review_finish(session, meta=meta, at_step=obs["step_index"])
        else:
            outcome = services.review_step(session, meta=meta, action=action, at_step=obs["step_index"])
        if outcome.refusal is not None or outcome.observation is None:
            raise RuntimeError(f"{catalog_name} {task_id} {patient_id}: the review refused {action}: {outcome.refusal}")
        obs = outcome.observation.to_dict()
    return obs["step_index"]


def stable_ids(lines: list[str]) -> list[str]:
    """The export's lines with each random episode id replaced by a uuid5 of catalog, task and
    patient (one review of each: the recorder dedupes patients)."""
    stable = []
    for line in lines:
        record = json.loads(line)
        new = uuid.uuid5(EPISODE_ID_NAMESPACE, f"{record['catalog']}/{record['task_id']}/{record['patient_id']}").hex
        stable.append(line.replace(record["episode_id"], new))  # a uuid4 hex occurs nowhere by chance
    return stable


def main() -> None:
    from agents.learning.ppo import TRAIN_SEED_LOW  # training seeds: the test seeds stay unseen
    from envcore.scenarios import TASKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 8: the committed file stays under 3 MB (each step stores its whole observation: a review is
    # 15–95 kB, complex_tradeoff the largest; 40 seeds would be ~9 MB).
    parser.add_argument("--per-task", type=int, default=8, help="Training seeds per catalog and task (default 8).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"Where to write (default {DEFAULT_OUT.relative_to(ROOT)}).")
    args = parser.parse_args()
    if args.per_task < 1:
        parser.error(f"--per-task must be 1 or more, not {args.per_task}")
    started = time.process_time()
    seeds = range(TRAIN_SEED_LOW, TRAIN_SEED_LOW + args.per_task)
    with throwaway_site():
        from django.contrib.auth.models import Group, User
        from django.core.management import call_command

        from accounts.roles import PHARMACIST
        from catalog.services import catalog_load

        for name in CATALOG_NAMES:  # as the tests load them (testsupport/world.py, episodes/tests/conftest.py)
            catalog_load(name=name)
        reviewer = User.objects.create_user("scripted-reviewer")  # no password: nobody signs in as it
        reviewer.groups.add(Group.objects.get_or_create(name=PHARMACIST)[0])

        print(f"Scripted reviews (the heuristic acting through the review services), training seeds "
              f"{seeds.start}–{seeds.stop - 1}\n")
        print("| catalog | task | reviews | steps |")
        print("|---|---|---|---|")
        counts: Counter[str] = Counter()
        for catalog_name in CATALOG_NAMES:
            for task_id in TASKS:
                patients = seed_patients(catalog_name, task_id, seeds)
                steps = sum(scripted_review(reviewer, catalog_name, task_id, p) for p in patients)
                counts["reviews"] += len(patients)
                counts["steps"] += steps
                print(f"| {catalog_name} | {task_id} | {len(patients)} | {steps} |", flush=True)

        with tempfile.TemporaryDirectory() as tmp:
            exported = Path(tmp) / "reviews.jsonl"
            call_command("export_episodes", "--reviews-only", output=str(exported), stdout=io.StringIO())
            lines = exported.read_text(encoding="utf-8").splitlines()
    if len(lines) != counts["reviews"]:
        raise RuntimeError(f"exported {len(lines)} episodes, recorded {counts['reviews']} reviews")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(line + "\n" for line in stable_ids(lines)), encoding="utf-8")
    print(f"\n{counts['reviews']} reviews, {counts['steps']} steps; {args.out} "
          f"({args.out.stat().st_size / 1e6:.2f} MB); {time.process_time() - started:.1f} s CPU")


if __name__ == "__main__":
    main()
