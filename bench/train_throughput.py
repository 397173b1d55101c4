"""Training throughput: environment steps per second of CPU while training, side by side.

    .venv/bin/python bench/train_throughput.py [--baseline-ref 2806ccd] [--compare-ref REF] [--steps 32768]
        [--rounds 2] [--catalog classic] [--task complex_tradeoff]

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
- ``pairwise``: this tree's headline learner (``bench/train_matrix.py``'s configuration);
- with ``--compare-ref``, ``mlp`` and ``pairwise`` as they were at that commit too.

Beside the rate, each configuration's CPU microseconds per environment step, split into the
environment (the vector env's step: envcore, the adapter's encoding, Gymnasium's vector env), the
policy (the rest of the rollout: the forward pass and sampling), the update, and the rest.
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
from agents.learning import ppo
parts = {"env": 0.0, "rollout": 0.0, "update": 0.0}

def timed(name, fn):
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            parts[name] += time.process_time() - start
    return wrapper

# Where the CPU goes (the functions have these names at the baseline commit too).
ppo.TrainingVectorEnv.step = timed("env", ppo.TrainingVectorEnv.step)
ppo._collect_rollout = timed("rollout", ppo._collect_rollout)
ppo._optimise = timed("update", ppo._optimise)
cfg = ppo.TrainConfig(**json.loads(sys.argv[2]))
cpu = time.process_time()
result = ppo.train(cfg)
print(json.dumps({"steps": result.steps, "cpu_s": time.process_time() - cpu, **parts}))
"""

PARTS = ("env", "policy", "update", "other")


def measure(tree: Path, kwargs: dict) -> dict[str, float]:
    """Steps per CPU second, and CPU microseconds per step in each part: the environment (the
    vector env's step: envcore, the adapter's encoding, Gymnasium's vector env), the policy
    (the rest of the rollout: forward pass and sampling), the update, and the rest."""
    out = subprocess.run([sys.executable, "-c", _CHILD, str(tree), json.dumps(kwargs)], check=True,
                         capture_output=True, text=True, cwd=tree).stdout
    f = json.loads(out.strip().splitlines()[-1])
    per_step = 1e6 / f["steps"]
    return {"rate": f["steps"] / f["cpu_s"], "env": f["env"] * per_step,
            "policy": (f["rollout"] - f["env"]) * per_step, "update": f["update"] * per_step,
            "other": (f["cpu_s"] - f["rollout"] - f["update"]) * per_step}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline-ref", default="2806ccd")
    p.add_argument("--compare-ref", help="also run the mlp and pairwise configurations at this commit")
    p.add_argument("--steps", type=int, default=32_768)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--catalog", default="classic")
    p.add_argument("--task", default="complex_tradeoff")
    a = p.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.train_matrix import HEADLINE  # noqa: PLC0415  # after the path is set

    common = {"task_id": a.task, "catalog": a.catalog, "total_steps": a.steps, "eval_every": 0}
    with tempfile.TemporaryDirectory() as tmp:
        refs = {"baseline": a.baseline_ref, **({"compare": a.compare_ref} if a.compare_ref else {})}
        trees = {name: Path(tmp) / name for name in refs}
        for name, ref in refs.items():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(trees[name]), ref], check=True)
        try:
            configs = {"baseline": (trees["baseline"], common), "mlp": (ROOT, common),
                       "pairwise": (ROOT, {**common, **HEADLINE})}
            if a.compare_ref:
                configs |= {f"mlp at {a.compare_ref}": (trees["compare"], common),
                            f"pairwise at {a.compare_ref}": (trees["compare"], {**common, **HEADLINE})}
            figures: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
            for round_ in range(a.rounds):
                for name, (tree, kwargs) in configs.items():
                    figures[name].append(measure(tree, kwargs))
                    print(f"round {round_ + 1} {name}: {figures[name][-1]['rate']:,.0f} steps/CPU-s", flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
    mean = {name: {k: statistics.fmean(run[k] for run in runs) for k in runs[0]} for name, runs in figures.items()}
    base = mean["baseline"]["rate"]
    print(f"\n{a.catalog} {a.task}, {a.steps:,} steps per run, mean of {a.rounds} rounds (baseline: {a.baseline_ref})")
    print("| learner | steps per CPU second | × baseline | CPU µs per step: env | policy | update | other |")
    print("|---|---|---|---|---|---|---|")
    for name, m in mean.items():
        print(f"| {name} | {m['rate']:,.0f} | {m['rate'] / base:.2f}× | " + " | ".join(f"{m[k]:,.0f}" for k in PARTS) + " |")


if __name__ == "__main__":
    main()
