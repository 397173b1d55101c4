"""Train a masked PPO policy on envcore and compare it greedily with the heuristic.

    .venv/bin/python bench/train_policy.py --task easy_screening --catalog classic --steps 300000 --seed 0 \
        [--out var/checkpoints/easy_classic_s0.pt] [--n-envs 16] [--lr 3e-4] [--ent-coef 0.01] [--hidden 256,256]

Prints the learning curve (validation seeds 20000–20049, greedy), the wall time, and the greedy
score on the test seeds 10000–10099 next to the heuristic's on the same seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.evaluate import evaluate  # noqa: E402
from agents.learning.ppo import TEST_SEEDS, TrainConfig, greedy_scores, train  # noqa: E402
from agents.policies import heuristic_policy  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="easy_screening", help='a task id or "all"')
    p.add_argument("--catalog", default="classic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--n-envs", type=int, default=16)
    p.add_argument("--n-steps", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--ent-coef", type=float, default=0.01)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--minibatch", type=int, default=256)
    p.add_argument("--hidden", default="256,256")
    p.add_argument("--eval-every", type=int, default=20)
    p.add_argument("--out", default=None, help="checkpoint path")
    p.add_argument("--json", default=None, help="write the summary as JSON here")
    a = p.parse_args()

    cfg = TrainConfig(
        task_id=a.task, catalog=a.catalog, seed=a.seed, total_steps=a.steps, n_envs=a.n_envs, n_steps=a.n_steps,
        lr=a.lr, ent_coef=a.ent_coef, gamma=a.gamma, epochs=a.epochs, minibatch_size=a.minibatch,
        hidden=tuple(int(h) for h in a.hidden.split(",")), eval_every=a.eval_every,
    )
    print("config:", json.dumps(cfg.to_dict() | {"eval_seeds": f"{cfg.eval_seeds[0]}-{cfg.eval_seeds[-1]}"}), flush=True)
    result = train(cfg, log=lambda s: print(s, flush=True))
    print(f"trained {result.steps} steps in {result.wall_time_s:.1f}s ({result.steps / result.wall_time_s:.0f} steps/s)")

    rows = {}
    for task in cfg.tasks():
        t0 = time.perf_counter()
        learned = greedy_scores(result.model, cfg.catalog, task, TEST_SEEDS)
        heur = evaluate(heuristic_policy, task, TEST_SEEDS, cfg.catalog)
        rows[task] = {
            "learned_mean": statistics.fmean(learned), "learned_std": statistics.pstdev(learned),
            "heuristic_mean": heur.mean, "heuristic_std": heur.std, "eval_s": time.perf_counter() - t0,
        }
    print("\n| catalog | task | learned (greedy, seeds 10000-10099) | heuristic (same seeds) |\n|---|---|---|---|")
    for task, r in rows.items():
        print(f"| {cfg.catalog} | {task} | {r['learned_mean']:.3f} ± {r['learned_std']:.3f} | {r['heuristic_mean']:.3f} ± {r['heuristic_std']:.3f} |")
    summary = {"config": cfg.to_dict(), "steps": result.steps, "wall_time_s": result.wall_time_s, "test": rows,
               "curve": result.metrics["curve"]}
    if a.out:
        path = result.save(a.out, extra_metrics={"test": rows})
        print("checkpoint:", path)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
