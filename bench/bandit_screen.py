"""Wall time of /bandit/screen for 10,000 combinations and of /bandit/predict (Django test client:
the whole request path — middleware, auth, parsing, validation, scoring, JSON — in one process).

    .venv/bin/python bench/bandit_screen.py [--catalog curated] [--n 10000] [--repeats 7] [--threads 1]

Uses a throwaway database (a fresh SQLite file, or a fresh PostgreSQL database when DATABASE_URL
points at PostgreSQL) and artefact folder. It trains a small model first (the bandit_train
runner, the catalog's drugs, the default 128 hidden units: the network's size is what scoring
costs; its quality does not matter here), then screens combinations drawn from the model's
training data, of the training sizes (mean 5 drugs). 10,000 such combinations of curated drug
ids make a body just over 1 MB, so the body is sent gzip-compressed when it would exceed the
1 MB limit (``Content-Encoding: gzip``; the inflating is timed too). Prints the medians (and
min / max) over the repeats after one warm-up request. Target (issue 7): under 2 s.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throwaway_site import throwaway_site  # noqa: E402

MAX_BODY = 1024 * 1024


class _Ctx:
    """Enough of a job context for the training runner, outside any job row."""

    def __init__(self, root: Path, catalog: Any) -> None:
        self.job_id, self.artifact_dir, self._catalog = 0, root / "job-0", catalog
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoints: list[tuple[Path, dict]] = []

    def progress(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, line: str) -> None:
        print(f"#   {line}", flush=True)

    def catalog(self, name: str) -> Any:
        return self._catalog

    def add_checkpoint(self, kind: str, path: Path, **kw: Any) -> None:
        self.checkpoints.append((Path(path), kw))


def _timed(fn: Any, repeats: int) -> list[float]:
    fn()  # warm-up: loads the model into the process cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _report(label: str, times: list[float]) -> None:
    print(f"{label}: median {statistics.median(times) * 1000:.1f} ms (min {min(times) * 1000:.1f}, "
          f"max {max(times) * 1000:.1f}, {len(times)} runs)", flush=True)


def run(args: argparse.Namespace, artifacts: Path) -> None:
    import numpy as np
    from django.conf import settings
    from django.test import Client

    from bandits.params import BanditTrainParams
    from bandits.runners import run_bandit_train
    from bandits.screening import load_scorer
    from catalog.selectors import catalog_get
    from catalog.services import catalog_load
    from jobs.models import Checkpoint

    settings.JOBS_ARTIFACT_DIR = artifacts
    catalog_load(name=args.catalog)
    catalog = catalog_get(args.catalog)
    params = {name: f.default for name, f in BanditTrainParams().fields.items()}
    params.update(dataset="catalog", catalog=args.catalog, n_combinations=args.n_combinations, mean_size=5.0,
                  warmup=args.train_steps, total_steps=args.train_steps, warmup_epochs=3, random_baseline="no")
    t0 = time.perf_counter()
    ctx = _Ctx(artifacts, catalog)
    run_bandit_train(params, ctx)
    path, kw = ctx.checkpoints[0]
    Checkpoint.objects.create(name="bench", kind=Checkpoint.Kind.BANDIT, path=str(path.relative_to(artifacts)),
                              catalog=args.catalog, metrics=kw["metrics"])
    print(f"# model: {len(catalog.drugs)} drugs, hidden {params['hidden']}, trained in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)

    scorer = load_scorer(path)
    X = scorer.dataset_X()
    rng = np.random.default_rng(0)
    rows = rng.choice(len(X), size=args.n, replace=args.n > len(X))
    combos = [scorer.drugs_of(X[i]) for i in rows]
    raw = json.dumps({"combinations": combos}).encode()
    headers: dict[str, Any] = {}  # the test client's extra WSGI keys
    body = raw
    if len(raw) > MAX_BODY:
        body = gzip.compress(raw, compresslevel=6)
        headers["HTTP_CONTENT_ENCODING"] = "gzip"
    print(f"# {args.n} combinations, mean {np.mean([len(c) for c in combos]):.2f} drugs: body {len(raw):,} bytes"
          + (f" → {len(body):,} gzip-compressed" if headers else ""), flush=True)

    client = Client()

    def screen() -> None:
        response = client.post("/bandit/screen", body, content_type="application/json", **headers)
        assert response.status_code == 200, response.content[:300]
        assert response.json()["n"] == args.n

    def predict() -> None:
        response = client.post("/bandit/predict", json.dumps({"combination": combos[0]}),
                               content_type="application/json")
        assert response.status_code == 200, response.content[:300]

    def score_only() -> None:
        Xq, _ = scorer.encode(combos)
        scorer.score(Xq)

    _report(f"POST /bandit/screen ({args.n:,} combinations)", _timed(screen, args.repeats))
    _report("POST /bandit/predict (one combination)", _timed(predict, args.repeats * 5))
    _report(f"  of which encoding + scoring alone ({args.n:,})", _timed(score_only, args.repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", choices=["curated", "classic"], default="curated")
    parser.add_argument("--n", type=int, default=10_000, help="combinations per screen request")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--n-combinations", type=int, default=20_000, help="the model's training dataset")
    parser.add_argument("--train-steps", type=int, default=300, help="random pulls of the quick training")
    args = parser.parse_args()

    with throwaway_site() as var_dir:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} CPU(s)", flush=True)
        run(args, var_dir / "artifacts")


if __name__ == "__main__":
    main()
