"""The Gymnasium adapter as a learner steps it: 16 adapters in Gymnasium's SyncVectorEnv, seeded
random valid actions (finish one time in ten when other actions are valid), side by side with
the adapter of another commit.

    .venv/bin/python bench/adapter_throughput.py [--baseline-ref 8596888] [--task complex_tradeoff]
        [--catalog classic] [--steps 300] [--rounds 3]

``--steps`` counts vector steps (16 environment steps each). Each tree runs in its own process,
rounds interleaved; the figure is CPU microseconds per environment step (the action choice
excluded), the median over the rounds. Both trees see the same actions: the encodings (and so
the masks) are pinned equal by ``envcore/tests/test_gym_encoding_pinned.py``.

Wall and CPU clocks on a shared machine move by a third from run to run. For a repeatable
figure, count instructions: run one tree's child under callgrind at two lengths and take the
difference (start-up cancels out), e.g.

    valgrind --tool=callgrind .venv/bin/python bench/adapter_throughput.py --child . 20
    valgrind --tool=callgrind .venv/bin/python bench/adapter_throughput.py --child . 120

and divide the difference of the "Collected" counts by 100 × 16 steps.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
N_ENVS = 16


def child(tree: str, vector_steps: int, task: str, catalog_name: str) -> float:
    """CPU microseconds per environment step of ``tree``'s adapter (the action choice excluded)."""
    sys.path.insert(0, tree)
    import numpy as np  # noqa: PLC0415  # after the tree is on the path
    from gymnasium.vector import AutoresetMode, SyncVectorEnv  # noqa: PLC0415

    from envcore.catalog import Catalog  # noqa: PLC0415
    from envcore.gym_env import FINISH_ACTION, PolypharmacyGymEnv  # noqa: PLC0415

    catalog = Catalog.load(catalog_name)
    vector = SyncVectorEnv([lambda: PolypharmacyGymEnv(catalog, task) for _ in range(N_ENVS)], copy=False,
                           autoreset_mode=AutoresetMode.SAME_STEP)
    info: dict[str, Any] = vector.reset(seed=0)[1]  # SyncVectorEnv leaves its return types open
    rng = np.random.default_rng(0)
    masks = info["action_mask"]
    stepping = 0.0
    for _ in range(vector_steps):
        actions = []
        for mask in masks:
            valid = np.flatnonzero(mask)
            if len(valid) > 1 and rng.random() < 0.9:
                valid = valid[valid != FINISH_ACTION]
            actions.append(rng.choice(valid))
        start = time.process_time()
        info = vector.step(np.array(actions))[4]
        stepping += time.process_time() - start
        masks = info["action_mask"]
    return stepping / (vector_steps * N_ENVS) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline-ref", default="8596888")
    p.add_argument("--task", default="complex_tradeoff")
    p.add_argument("--catalog", default="classic")
    p.add_argument("--steps", type=int, default=300, help="vector steps per run (16 environment steps each)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", nargs=2, metavar=("TREE", "STEPS"), help="run one tree's adapter (for callgrind)")
    a = p.parse_args()
    if a.child:
        print(f"{child(a.child[0], int(a.child[1]), a.task, a.catalog):.1f}")
        return
    figures: dict[str, list[float]] = {"baseline": [], "this tree": []}
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(baseline), a.baseline_ref],
                       check=True)
        try:
            for round_ in range(a.rounds):
                for name, tree in (("baseline", baseline), ("this tree", ROOT)):
                    out = subprocess.run([sys.executable, __file__, "--child", str(tree), str(a.steps), "--task", a.task,
                                          "--catalog", a.catalog], check=True, capture_output=True, text=True).stdout
                    figures[name].append(float(out.strip().splitlines()[-1]))
                    print(f"round {round_ + 1} {name}: {figures[name][-1]:.0f} µs per step", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], check=True)
    base, this = statistics.median(figures["baseline"]), statistics.median(figures["this tree"])
    print(f"\n{a.catalog} {a.task}, {a.steps * N_ENVS:,} steps per run, median of {a.rounds} rounds")
    print(f"| adapter | CPU µs per step | speed-up |\n|---|---|---|\n| {a.baseline_ref} | {base:.0f} | 1.00× |\n"
          f"| this tree | {this:.0f} | {base / this:.2f}× |")


if __name__ == "__main__":
    main()
