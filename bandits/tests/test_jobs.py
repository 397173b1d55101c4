"""The bandit training job through the real job path (jobs.services.job_create + job_execute): on
the classic catalog and on a synthetic dataset, its stored parameters, its progress, refused
parameters, the results page. (Screening jobs: test_screen_jobs.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from django.contrib.auth.models import User
from django.urls import reverse

from bandits.screening import FORMAT
from bandits.tests.conftest import FLAGGING_TRAIN, TINY_TRAIN, run_job
from testsupport.world import client_for
from envcore.catalog import Catalog
from jobs.models import Checkpoint, Job
from jobs.selectors import checkpoint_file
from bandits.runners import run_bandit_train
from catalog.selectors import catalog_get
from jobs.services import JobError, job_create, job_params_validate


@pytest.mark.slow
def test_a_training_job_on_the_classic_catalog_registers_a_model_plots_and_flags(classic: None, artifacts: Path,
                                                                                  rex: User) -> None:
    job = run_job("bandit_train", FLAGGING_TRAIN, owner=rex)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.params["total_steps"] == 1200 and job.params["bandit_epochs"] == 3  # defaults filled in
    ck = Checkpoint.objects.get(kind=Checkpoint.Kind.BANDIT, job=job)
    assert ck.name == f"bandit-classic-s0-job{job.pk}" and ck.catalog == "classic"
    payload = torch.load(str(checkpoint_file(ck)), weights_only=True)
    drugs = Catalog.load("classic").drugs
    assert payload["format"] == FORMAT and payload["drug_ids"] == sorted(drugs)
    assert payload["dataset"]["n_combinations"] == 3000 and payload["step"] == 1200

    steps = [point["step"] for point in job.series]
    assert steps == list(range(500, 1201, 100))
    assert all({"precision", "recall", "pattern_share", "n_flagged", "severe_pairs_covered"} <= set(p) for p in job.series)

    result = job.result
    assert result["checkpoint"] == ck.name and result["final"]["step"] == 1200
    assert set(result["baselines"]) == {"sequential_random", "random_supervised"}  # total_steps ≤ 5,000
    assert result["n_flagged"] > 0 and result["flagged"]
    top = result["flagged"][0]
    assert set(top["drugs"]) <= set(drugs) and top["names"] == [drugs[d].generic_name for d in top["drugs"]]
    assert top["lower_bound"] == pytest.approx(top["predicted_rr"] - 3 * top["sigma"], abs=1e-5)
    # What it flags is dangerous far more often than what random pulls flag at the same budget.
    assert result["final"]["precision"] > result["baselines"]["sequential_random"]["precision"] + 0.2
    assert ck.metrics["final"] == result["final"]

    page = client_for(rex).get(reverse("jobs:detail", args=[job.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count("<svg") >= 2 and "Flagged set over steps" in html and "recall" in html
    assert "Flagged combinations" in html and " + ".join(top["names"]) in html
    assert "severe pairs flagged" in html


def test_a_training_job_on_a_tiny_synthetic_dataset_names_its_columns_d000(db: None, artifacts: Path) -> None:
    job = run_job("bandit_train", {"dataset": "protective", "n_drugs": 30, "n_combinations": 600, "n_patterns": 3,
                                   "warmup": 100, "total_steps": 200, "warmup_epochs": 10, "bandit_epochs": 2,
                                   "flag_every": 50, "hidden": 16, "random_baseline": "no",
                                   "adj_mode": "authors", "sampling": "lds"})

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.params["adj_mode"] == "authors" and job.params["sampling"] == "lds"
    ck = Checkpoint.objects.get(job=job)
    assert ck.name == f"bandit-protective-s0-job{job.pk}" and ck.catalog == ""
    payload = torch.load(str(checkpoint_file(ck)), weights_only=True)
    assert payload["drug_ids"][:2] == ["D000", "D001"] and len(payload["drug_ids"]) == 30
    assert payload["drug_names"] == []
    assert [p["step"] for p in job.series] == [100, 150, 200]
    assert all("precision" in p and "recall" in p for p in job.series)
    assert set(job.result["baselines"]) == {"sequential_random"}  # random_baseline "no"
    assert job.result["dataset"]["kind"] == "protective" and job.result["dataset"]["n_patterns"] == 3


def test_the_same_parameters_train_the_same_model(classic: None, artifacts: Path) -> None:
    first = run_job("bandit_train", {**TINY_TRAIN, "checkpoint_name": "first"})
    second = run_job("bandit_train", {**TINY_TRAIN, "checkpoint_name": "second"})
    a = torch.load(str(checkpoint_file(Checkpoint.objects.get(name="first"))), weights_only=True)
    b = torch.load(str(checkpoint_file(Checkpoint.objects.get(name="second"))), weights_only=True)
    assert torch.equal(a["pulled"], b["pulled"]) and torch.equal(a["U"], b["U"])
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert [p["n_flagged"] for p in first.series] == [p["n_flagged"] for p in second.series]


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"warmup": 2000, "total_steps": 1000}, "params.warmup", "cannot exceed total_steps"),
    ({"dataset": "bogus"}, "params.dataset", "bogus"),
    ({"hidden": 2}, "params.hidden", "greater than or equal to 8"),
    ({"total_steps": 10**7}, "params.total_steps", "less than or equal to 100000"),
    ({"tpyo": 1}, "params.tpyo", "Unknown parameter"),
    ({"catalog": "nope"}, "params.catalog", "Unknown catalog 'nope'"),
    ({}, "params.catalog", "Unknown catalog 'curated'"),  # the default catalog is not loaded here
    ({"dataset": "neutral", "n_drugs": 10, "mean_size": 12}, "params.mean_size", "number of drugs (10)"),
    ({"dataset": "neutral", "n_drugs": 5}, "params.n_drugs", "greater than or equal to 10"),
])
def test_invalid_training_parameters_are_refused_naming_the_field(classic: None, params: dict, field: str,
                                                                   words: str) -> None:
    with pytest.raises(JobError) as caught:
        job_create(kind="bandit_train", params=params)
    assert caught.value.field == field and words in caught.value.message
    assert not Job.objects.exists()


def test_a_taken_checkpoint_name_is_refused(tiny_model: Checkpoint) -> None:
    with pytest.raises(JobError) as caught:
        job_create(kind="bandit_train", params={**TINY_TRAIN, "checkpoint_name": "tiny"})
    assert caught.value.field == "params.checkpoint_name" and "exists already" in caught.value.message




def test_a_catalog_run_stores_and_shows_only_the_parameters_that_apply_to_it(classic: None, rex: User) -> None:
    # The form sends every field it shows, the synthetic-only ones included.
    catalog_run = job_create(kind="bandit_train", params={**TINY_TRAIN, "n_drugs": 50, "adj_mode": "authors"}, owner=rex)
    synthetic_run = job_create(kind="bandit_train", params={"dataset": "neutral", "n_drugs": 30, "n_combinations": 600},
                               owner=rex)

    assert not {"n_drugs", "n_patterns", "adj_mode"} & set(catalog_run.params)
    assert catalog_run.params["catalog"] == "classic" and catalog_run.params["mean_size"] == 4
    assert "catalog" not in synthetic_run.params and synthetic_run.params["n_drugs"] == 30
    html = client_for(rex).get(reverse("jobs:detail", args=[catalog_run.pk])).content.decode()
    assert "<dt>n_combinations</dt>" in html and "<dt>n_drugs</dt>" not in html and "<dt>adj_mode</dt>" not in html


class _Recorder:
    """A runner's context that keeps every progress report (the real one writes at most twice a
    second, so counting its rows would time the machine instead of the runner)."""

    def __init__(self, artifact_dir: Path) -> None:
        self.job_id, self.artifact_dir = 0, artifact_dir
        self.reports: list[tuple[float, str | None, bool]] = []

    def progress(self, fraction: float, stage: str | None = None, metrics: dict | None = None, *,
                 force: bool = False) -> None:
        self.reports.append((fraction, stage, metrics is not None))

    def log(self, line: str) -> None:
        pass

    def catalog(self, name: str) -> Catalog:
        return catalog_get(name)

    def add_checkpoint(self, kind: str, path: Path, **kwargs: object) -> str:
        return str(kwargs["name"])


def test_training_reports_progress_between_flagging_rounds(classic: None, tmp_path: Path) -> None:
    # One flagging round after the warm-up (step 150) and one at the end (250): the 99 pulls in
    # between report their progress too.
    params = job_params_validate("bandit_train", {**TINY_TRAIN, "flag_every": 1000, "random_baseline": "no",
                                                  "checkpoint_name": "progress"})
    ctx = _Recorder(tmp_path)

    run_bandit_train(params, ctx)

    rounds = [fraction for fraction, _, point in ctx.reports if point]
    between = [(fraction, stage) for fraction, stage, point in ctx.reports
               if not point and rounds[0] < fraction < rounds[1]]
    assert len(rounds) == 2 and len(between) == 99
    assert [f for f, _ in between] == sorted(f for f, _ in between)
    assert between[0][1].startswith("step 151/250") and between[-1][1].startswith("step 249/250")
