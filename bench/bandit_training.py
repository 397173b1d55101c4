"""Retraining speed of OptimNeuralTS's network: ``bandits.training.fit`` against the plain autograd
loop it replaced (``plain_fit``), side by side on the paper's data.

    .venv/bin/python bench/bandit_training.py [--rows 10000 20000 30000] [--epochs 2] [--repeats 3] [--threads 1]

For each number of training rows (pulls so far) it times both on the same rows, alternating, and
prints the median seconds per epoch, the ratio, and how far each lands from the same loop run in
float64 (largest parameter difference).  Both are float32 and compute the same thing; a ReLU unit
near zero can flip on a rounding difference and Adam then carries it on, so either one can end up
0.1–1 away from the float64 run on a given data size, and which one does is luck.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bandits.datasets import make_dataset  # noqa: E402
from bandits.training import FitSettings, SparseRows, fit, plain_fit  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, nargs="+", default=[10_000, 20_000, 30_000])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ds = make_dataset("protective", seed=0)
    X = torch.as_tensor(ds.X, dtype=torch.float32)
    data = SparseRows(X)
    y_all = torch.as_tensor(ds.rr, dtype=torch.float32)

    def new_net() -> nn.Sequential:
        torch.manual_seed(0)  # the same initial weights for every run
        return nn.Sequential(nn.Linear(X.shape[1], 128), nn.ReLU(), nn.Linear(128, 1))

    print(f"# {X.shape[0]:,} combinations of {X.shape[1]} drugs, 128 hidden units, batch 64, "
          f"{args.epochs} epochs, {args.threads} thread(s)")
    # warm-up: the first optimizer step imports parts of torch (seconds), which is not training time
    plain_fit(new_net(), X, torch.arange(256), y_all[:256], FitSettings(epochs=1), torch.Generator().manual_seed(0))
    fit(new_net(), data, torch.arange(256), y_all[:256], FitSettings(epochs=1), torch.Generator().manual_seed(0))
    print(f"{'rows':>8s} {'plain s/epoch':>14s} {'fit s/epoch':>12s} {'ratio':>7s} "
          f"{'plain vs f64':>13s} {'fit vs f64':>11s}")
    for n in args.rows:
        rows = torch.randint(0, len(X), (n,), generator=torch.Generator().manual_seed(n))
        y = y_all[rows]
        s = FitSettings(epochs=args.epochs, weight_decay=1.0 / n)
        times: dict[str, list[float]] = {"plain": [], "fit": []}
        nets = {}
        for _ in range(args.repeats):
            for name in ("plain", "fit"):
                net = new_net()
                t0 = time.perf_counter()
                if name == "plain":
                    plain_fit(net, X, rows, y, s, torch.Generator().manual_seed(1))
                else:
                    fit(net, data, rows, y, s, torch.Generator().manual_seed(1))
                times[name].append((time.perf_counter() - t0) / args.epochs)
                nets[name] = net
        ref = new_net().double()
        plain_fit(ref, X.double(), rows, y.double(), s, torch.Generator().manual_seed(1))
        diff = {name: max(float((a.double() - b).detach().abs().max()) for a, b in zip(net.parameters(), ref.parameters()))
                for name, net in nets.items()}
        tp, tf = statistics.median(times["plain"]), statistics.median(times["fit"])
        print(f"{n:8d} {tp:14.3f} {tf:12.3f} {tp / tf:6.1f}x {diff['plain']:13.1e} {diff['fit']:11.1e}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
