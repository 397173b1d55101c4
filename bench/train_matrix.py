"""Train a policy on every task × catalog over several training seeds; compare greedy scores with the heuristic.

    .venv/bin/python bench/train_matrix.py [--seeds 0,1,2] [--catalogs classic,curated] [--tasks …]
        [--algorithm ppo|reinforce] [--out var/bench/train_matrix] [--verify-determinism]

Each run is one ``agents.learning.ppo.train`` call with the step budget below (sized so a run takes
well under 15 minutes on the 2-core CI machine), single-threaded. Its checkpoint and a JSON summary
go to ``--out``; a run whose summary exists is skipped, so the matrix can be resumed. The table
at the end gives, per catalog and task, the mean ± std over training seeds of the greedy test score
on seeds 10000–10099, the heuristic on the same seeds, and the reference's published and measured
figures. ``--verify-determinism`` retrains the first run and checks that parameters and scores are
identical.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from agents.evaluate import evaluate  # noqa: E402
from agents.normalised import format_normalised, references  # noqa: E402
from agents.learning.ppo import TEST_SEEDS, TrainConfig, greedy_scores, train  # noqa: E402
from agents.policies import heuristic_policy  # noqa: E402

# Steps per run: enough for the learning curve to flatten on each task (bench/train_policy.py).
STEPS = {
    ("classic", "easy_screening"): 200_000,
    ("classic", "budgeted_screening"): 600_000,
    ("classic", "complex_tradeoff"): 300_000,
    ("curated", "easy_screening"): 300_000,
    ("curated", "budgeted_screening"): 400_000,
    ("curated", "complex_tradeoff"): 500_000,
}
# The reference PolypharmacyEnv's REINFORCE: its README's claims, and the measurement of
# its training script (five unseeded runs on easy, classic catalog).
REFERENCE_CLAIMS = {"easy_screening": 0.698, "budgeted_screening": 0.195, "complex_tradeoff": 0.040}
REFERENCE_MEASURED = {"easy_screening": "0.43 (5 runs, 0.001–0.72)"}


def run_one(catalog: str, task: str, seed: int, out: Path, algorithm: str = "ppo") -> dict:
    stem = f"{catalog}_{task}_s{seed}" + ("" if algorithm == "ppo" else f"_{algorithm}")
    summary_path = out / f"{stem}.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    cfg = TrainConfig(algorithm=algorithm, task_id=task, catalog=catalog, seed=seed,
                      total_steps=STEPS[(catalog, task)], eval_every=20)
    cpu0 = time.process_time()
    result = train(cfg)
    cpu_s = time.process_time() - cpu0  # CPU time: the wall time grows when the machine is shared
    scores = greedy_scores(result.model, catalog, task, TEST_SEEDS)
    summary = {
        "algorithm": algorithm, "catalog": catalog, "task": task, "seed": seed, "steps": result.steps,
        "wall_time_s": result.wall_time_s, "cpu_time_s": cpu_s, "test_mean": statistics.fmean(scores),
        "test_std": statistics.pstdev(scores), "test_scores": scores,
    }
    result.save(str(out / f"{stem}.pt"), extra_metrics={"test": summary})
    summary_path.write_text(json.dumps(summary))
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--catalogs", default="classic,curated")
    p.add_argument("--tasks", default="easy_screening,budgeted_screening,complex_tradeoff")
    p.add_argument("--out", default="var/bench/train_matrix")
    p.add_argument("--algorithm", choices=["ppo", "reinforce"], default="ppo")
    p.add_argument("--verify-determinism", action="store_true")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in a.seeds.split(",")]
    catalogs, tasks = a.catalogs.split(","), a.tasks.split(",")

    runs: dict[tuple[str, str], list[dict]] = {}
    for seed in seeds:  # seed-major: a partial matrix still covers every task
        for catalog in catalogs:
            for task in tasks:
                t0 = time.perf_counter()
                s = run_one(catalog, task, seed, out, a.algorithm)
                runs.setdefault((catalog, task), []).append(s)
                print(f"{catalog} {task} seed {seed}: test {s['test_mean']:.3f} ± {s['test_std']:.3f}, "
                      f"train {s['wall_time_s']:.0f}s (this call {time.perf_counter() - t0:.0f}s)", flush=True)

    print(f"\n| catalog | task | reference README claim | reference measured | heuristic | {a.algorithm} (mean ± std "
          f"over training seeds) | {a.algorithm} normalised | random · oracle (full information) | per seed | "
          "longest run |\n|---|---|---|---|---|---|---|---|---|---|")
    for (catalog, task), rs in runs.items():
        heur = evaluate(heuristic_policy, task, TEST_SEEDS, catalog)
        refs = references(catalog, task, TEST_SEEDS)
        means = [r["test_mean"] for r in rs]
        mean = statistics.fmean(means)
        std = statistics.pstdev(means) if len(means) > 1 else 0.0
        claim = REFERENCE_CLAIMS[task] if catalog == "classic" else "—"
        measured = REFERENCE_MEASURED.get(task, "—") if catalog == "classic" else "—"
        print(f"| {catalog} | {task} | {claim} | {measured} | {heur.mean:.3f} | {mean:.3f} ± {std:.3f} | "
              f"{format_normalised(refs.normalise(mean))} | {refs.random:.3f} · {refs.oracle:.3f} | "
              f"{', '.join(f'{m:.3f}' for m in means)} | {max(r['wall_time_s'] for r in rs):.0f} s |", flush=True)

    if a.verify_determinism:
        catalog, task, seed = catalogs[0], tasks[0], seeds[0]
        first = torch.load(out / f"{catalog}_{task}_s{seed}.pt", weights_only=True)
        again = run_one(catalog, task, seed, out / "repeat", a.algorithm)
        second = torch.load(out / "repeat" / f"{catalog}_{task}_s{seed}.pt", weights_only=True)
        same_params = all(torch.equal(first["state_dict"][k], second["state_dict"][k]) for k in first["state_dict"])
        same_scores = again["test_scores"] == runs[(catalog, task)][0]["test_scores"]
        print(f"determinism ({catalog} {task} seed {seed} trained twice): identical parameters {same_params}, "
              f"identical test scores {same_scores}")


if __name__ == "__main__":
    main()
