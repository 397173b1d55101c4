"""Training throughput: environment steps per second of CPU while training, side by side.

    .venv/bin/python bench/train_throughput.py [--baseline-ref 2806ccd] [--steps 32768] [--rounds 2]
        [--catalog classic] [--task complex_tradeoff]

Each configuration trains for ``--steps`` environment steps (evaluation off) in its own process,
single-threaded, and reports steps / CPU seconds of that process. The baseline is the learner as
it was at ``--baseline-ref`` (a git commit: checked out into a temporary worktree and run with
this venv), so "today's learner" is measured on this machine in the same run, not quoted. The
rounds interleave the configurations (A B A B ...), so a change in the machine's load hits both.

Configurations:
- ``baseline``: the learner at the baseline commit with its defaults (MLP 256×256, 16 envs,
  64 steps, 4 epochs of 256-sample minibatches);
- ``mlp``: this tree's learner with the same network and settings (what the faster environment
  path alone gives);
- ``pairwise``: this tree's headline learner (``bench/train_matrix.py``'s configuration).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Run in a child process, from the tree under test (its own agents/ and envcore/).
_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from agents.learning.ppo import TrainConfig, train
kwargs = json.loads(sys.argv[2])
cfg = TrainConfig(**kwargs)
cpu = time.process_time()
result = train(cfg)
print(json.dumps({"steps": result.steps, "cpu_s": time.process_time() - cpu}))
"""


def measure(tree: Path, kwargs: dict) -> float:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(tree), json.dumps(kwargs)], check=True,
                         capture_output=True, text=True, cwd=tree).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    return figures["steps"] / figures["cpu_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline-ref", default="2806ccd")
    p.add_argument("--steps", type=int, default=32_768)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--catalog", default="classic")
    p.add_argument("--task", default="complex_tradeoff")
    a = p.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.train_matrix import HEADLINE  # noqa: PLC0415  # after the path is set

    common = {"task_id": a.task, "catalog": a.catalog, "total_steps": a.steps, "eval_every": 0}
    with tempfile.TemporaryDirectory() as tmp:
        baseline_tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(baseline_tree),
                        a.baseline_ref], check=True)
        try:
            configs = {"baseline": (baseline_tree, common), "mlp": (ROOT, common),
                       "pairwise": (ROOT, {**common, **HEADLINE})}
            figures: dict[str, list[float]] = {name: [] for name in configs}
            for round_ in range(a.rounds):
                for name, (tree, kwargs) in configs.items():
                    figures[name].append(measure(tree, kwargs))
                    print(f"round {round_ + 1} {name}: {figures[name][-1]:,.0f} steps/CPU-s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline_tree)], check=True)
    base = statistics.fmean(figures["baseline"])
    print(f"\n{a.catalog} {a.task}, {a.steps:,} steps per run, mean of {a.rounds} rounds (baseline: {a.baseline_ref})")
    print("| learner | steps per CPU second | × baseline |\n|---|---|---|")
    for name, values in figures.items():
        mean = statistics.fmean(values)
        print(f"| {name} | {mean:,.0f} | {mean / base:.2f}× |")


if __name__ == "__main__":
    main()
