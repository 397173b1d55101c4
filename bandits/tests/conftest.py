"""The bandit jobs and endpoints' helpers on top of the shared world (testsupport/world.py: the
classic catalog, rex the researcher): an artefact folder of the test's own, one torch thread (the
machine is shared), and helpers that train a tiny model through the real job path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from django.contrib.auth.models import User

from bandits.params import BanditTrainParams
from bandits.runners import run_bandit_train
from bandits.screening import scorer_cache_clear
from catalog.selectors import catalog_cache_clear
from envcore.catalog import Catalog
from jobs.models import Checkpoint, Job
from jobs.services import job_create, job_execute

# A model trained in a few seconds: enough to score, not to find much.
TINY_TRAIN = {"dataset": "catalog", "catalog": "classic", "n_combinations": 1000, "mean_size": 4, "warmup": 150,
              "total_steps": 250, "warmup_epochs": 10, "bandit_epochs": 2, "flag_every": 50, "hidden": 16}
# Large enough for the model to flag something (in about ten seconds on one core).
FLAGGING_TRAIN = {"dataset": "catalog", "catalog": "classic", "n_combinations": 3000, "mean_size": 4, "warmup": 500,
                  "total_steps": 1200, "warmup_epochs": 30, "bandit_epochs": 3, "flag_every": 100, "hidden": 32}


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    catalog_cache_clear()
    scorer_cache_clear()
    yield
    catalog_cache_clear()
    scorer_cache_clear()


@pytest.fixture
def artifacts(settings: Any, tmp_path: Path) -> Path:
    """Job files go to the test's folder; no heartbeat thread touches the test database."""
    settings.JOBS_ARTIFACT_DIR = tmp_path / "artifacts"
    settings.JOBS_ARTIFACT_DIR.mkdir()
    settings.JOBS_HEARTBEAT_S = 3600
    return settings.JOBS_ARTIFACT_DIR


def run_job(kind: str, params: dict[str, Any], owner: User | None = None) -> Job:
    """Create and execute a job in-process (as the worker would), return it refreshed."""
    job = job_create(kind=kind, params=params, owner=owner)
    done = job_execute(job_id=job.pk, worker="pytest:1")
    assert done is not None
    return done


@pytest.fixture
def tiny_model(classic: None, artifacts: Path) -> Checkpoint:
    job = run_job("bandit_train", {**TINY_TRAIN, "checkpoint_name": "tiny"})
    assert job.status == Job.Status.SUCCEEDED, job.error
    return Checkpoint.objects.get(name="tiny")


class _FileCtx:
    """Just enough of a job context to train outside the database (``bandits.runners``)."""

    def __init__(self, root: Path) -> None:
        self.job_id, self.artifact_dir = 1, root / "job-1"
        self.checkpoints: list[Any] = []
        self.artifact_dir.mkdir(parents=True)

    def progress(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, line: str) -> None:
        pass

    def catalog(self, name: str) -> Catalog:
        return Catalog.load(name)

    def add_checkpoint(self, kind: str, path: Path, **kw: Any) -> None:
        self.checkpoints.append((path, kw))


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict]:
    """A small model that flags a few combinations, trained once per test process (the runner
    itself, no job row; about ten seconds) for every module that scores with it."""
    defaults = {name: f.default for name, f in BanditTrainParams().fields.items()}
    ctx = _FileCtx(tmp_path_factory.mktemp("artifacts"))
    run_bandit_train({**defaults, **FLAGGING_TRAIN}, ctx)
    path, kw = ctx.checkpoints[0]
    return Path(path).read_bytes(), kw["metrics"]
