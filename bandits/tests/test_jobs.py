"""The bandit jobs through the real job path (jobs.services.job_create + job_execute): training on
the classic catalog and on a synthetic dataset, screening, refused parameters, the results page."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from django.contrib.auth.models import User
from django.urls import reverse

from bandits.screening import FORMAT
from bandits.tests.conftest import FLAGGING_TRAIN, TINY_TRAIN, client_for, run_job
from envcore.catalog import Catalog
from jobs.models import Checkpoint, Job
from jobs.selectors import checkpoint_file
from jobs.services import JobError, job_create



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


def test_a_screening_job_scores_the_models_training_combinations(tiny_model: Checkpoint, rex: User) -> None:
    job = run_job("bandit_screen", {}, owner=rex)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.params == {"checkpoint": "tiny", "combinations": "all", "checkpoint_path": tiny_model.path}
    result = job.result
    assert result["n"] == 1000 and result["source"] == "the model's training combinations"
    assert result["truth"]["n_pip"] > 0 and len(result["quantiles"]["mu"]) == 101
    assert len(result["flagged"]) == min(result["n_flagged"], 1000)
    assert all(r["flagged"] and r["lower_bound"] > 1.1 for r in result["flagged"])

    page = client_for(rex).get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "<svg" in page and "Scores of the 1000 combinations" in page and "Flagged combinations" in page


def test_the_admin_queues_a_screening_job_again_with_what_it_was_asked(tiny_model: Checkpoint, rex: User) -> None:
    from jobs.services import job_execute

    combos = [["DRUG_WARFARIN", "DRUG_ASPIRIN"], ["DRUG_AMLODIPINE"]]
    first = run_job("bandit_screen", {"combinations": combos}, owner=rex)
    assert "checkpoint_path" in first.params  # derived and stored: the form would refuse it
    admin = User.objects.create_superuser("ada", password="admin-password-1")

    response = client_for(admin).post(reverse("admin:jobs_job_changelist"),
                                      {"action": "requeue_jobs", "_selected_action": [first.pk]}, follow=True)

    assert response.status_code == 200
    copy = Job.objects.filter(kind="bandit_screen").exclude(pk=first.pk).get()
    assert "1 job(s) queued again: #%d." % copy.pk in response.content.decode()
    assert copy.params == first.params and copy.owner == admin
    assert job_execute(job_id=copy.pk, worker="pytest:1").status == Job.Status.SUCCEEDED


def test_a_screening_job_scores_given_combinations_with_a_named_model(tiny_model: Checkpoint) -> None:
    combos = [["DRUG_WARFARIN", "DRUG_ASPIRIN"], ["DRUG_AMLODIPINE"], ["DRUG_TRAMADOL", "DRUG_AMITRIPTYLINE"]]
    job = run_job("bandit_screen", {"checkpoint": "tiny", "combinations": combos})

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["n"] == 3 and job.result["truth"] is None and job.result["catalog"] == "classic"


def test_the_job_form_takes_combinations_one_per_line(tiny_model: Checkpoint, rex: User) -> None:
    response = client_for(rex).post(reverse("jobs:new", args=["bandit_screen"]), {
        "checkpoint": "tiny", "combinations": "DRUG_WARFARIN, DRUG_ASPIRIN\nDRUG_AMLODIPINE\n"})

    assert response.status_code == 302
    job = Job.objects.get(kind="bandit_screen")
    assert job.params["combinations"] == [["DRUG_WARFARIN", "DRUG_ASPIRIN"], ["DRUG_AMLODIPINE"]]
    assert client_for(rex).get(reverse("jobs:new", args=["bandit_train"])).status_code == 200


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


def test_screening_without_any_model_is_refused_saying_to_train_one(db: None, artifacts: Path) -> None:
    with pytest.raises(JobError) as caught:
        job_create(kind="bandit_screen", params={})
    assert caught.value.field == "params.checkpoint" and "No trained bandit model yet" in caught.value.message
    assert not Job.objects.exists()


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"checkpoint": "nope"}, "params.checkpoint", "No bandit model named 'nope'. Known models: tiny"),
    ({"combinations": [["DRUG_WARFARIN"], ["DRUG_WARFARIN", "DRUG_UNOBTAINIUM"]]}, "params.combinations.1",
     "DRUG_UNOBTAINIUM"),
    ({"combinations": [["DRUG_WARFARIN"]] * 10_001}, "params.combinations", "At most 10,000"),
    ({"combinations": [["DRUG_WARFARIN"] * 40] * 2_501}, "params.combinations", "At most 100,000 drug ids in all"),
    ({"combinations": [["DRUG_WARFARIN"], ["DRUG_WARFARIN"] * 41]}, "params.combinations.1",
     "At most 40 drugs per combination, got 41"),
    ({"combinations": "some"}, "params.combinations.0", "Unknown drug id(s): some"),  # a form's one line
    ({"combinations": "[[1, 2"}, "params.combinations", "Malformed JSON"),
    ({"combinations": []}, "params.combinations", "lists of drug ids"),
    ({"combinations": {"a": 1}}, "params.combinations", "lists of drug ids"),
])
def test_invalid_screening_parameters_are_refused_naming_the_field(tiny_model: Checkpoint, params: dict, field: str,
                                                                    words: str) -> None:
    before = Job.objects.count()
    with pytest.raises(JobError) as caught:
        job_create(kind="bandit_screen", params=params)
    assert caught.value.field == field and words in caught.value.message
    assert Job.objects.count() == before
