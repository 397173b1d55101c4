"""The screening job (``bandit_screen``) as a researcher uses it: combinations typed one per line
by drug name or id, every one of them in the result with μ, σ, bound, flag and known RR, a chart
that fits them, the downloads, the refusals (an unknown drug names its line)."""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from agents.formatting import format_number as num
from bandits.catalog_dataset import expected_rr
from bandits.selectors import bandit_scorer
from bandits.tests.conftest import run_job
from testsupport.world import client_for
from catalog.selectors import catalog_get
from jobs.models import Checkpoint, Job
from jobs.services import JobError, job_create

TRIO = "aspirin + Warfarin\nDRUG_AMLODIPINE\n  tramadol,  AMITRIPTYLINE \n"
TRIO_IDS = [["DRUG_ASPIRIN", "DRUG_WARFARIN"], ["DRUG_AMLODIPINE"], ["DRUG_TRAMADOL", "DRUG_AMITRIPTYLINE"]]


def _csv(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode())))


def _queue_from_the_form(user: User, text: str) -> Job:
    response = client_for(user).post(reverse("jobs:new", args=["bandit_screen"]), {"checkpoint": "tiny",
                                                                                   "combinations": text})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Job.objects.filter(kind="bandit_screen").latest("pk")


def test_the_form_is_a_textarea_with_the_models_drug_names_to_complete(tiny_model: Checkpoint, rex: User) -> None:
    html = client_for(rex).get(reverse("jobs:new", args=["bandit_screen"])).content.decode()

    assert re.search(r'<textarea id="id_combinations" name="combinations" rows="6" spellcheck="false" '
                     r'placeholder="all\n[^"]*aspirin \+ warfarin[^"]*" data-completions="completions_combinations" '
                     r'data-completions-follow="checkpoint"', html)
    assert '<option value="aspirin" data-catalog="classic">DRUG_ASPIRIN</option>' in html
    assert '<option value="tiny" data-task="" data-catalog="classic" >tiny — catalog classic' in html
    assert 'jobs/completion.js' in html and "<script>" not in html  # no inline script (CSP)


def test_the_form_takes_names_and_ids_one_combination_per_line(tiny_model: Checkpoint, rex: User) -> None:
    job = _queue_from_the_form(rex, TRIO)

    assert job.params["combinations"] == TRIO_IDS  # stored as ids, whatever was typed


def test_an_unknown_drug_is_refused_naming_its_line(tiny_model: Checkpoint, rex: User) -> None:
    response = client_for(rex).post(reverse("jobs:new", args=["bandit_screen"]), {
        "checkpoint": "tiny", "combinations": "aspirin + warfarin\nFoo + aspirin\n\nwarfarin, Bar, Baz"})

    assert response.status_code == 422
    error = re.search(r'<ul class="errorlist" id="err_combinations" data-field="combinations"><li>(.*?)</li>',
                      response.content.decode(), re.S).group(1)
    assert error.startswith("combinations: line 2: unknown drug &#x27;Foo&#x27;; "
                            "line 4: unknown drugs &#x27;Bar&#x27;, &#x27;Baz&#x27;")
    assert "the model knows the 34 drugs of catalog &#x27;classic&#x27;, by id or name" in error
    assert "Foo + aspirin" in response.content.decode()  # the text is kept for correcting
    assert not Job.objects.filter(kind="bandit_screen").exists()


def test_the_api_takes_ids_or_names_and_names_a_bad_combination_by_its_index(tiny_model: Checkpoint,
                                                                              rex: User) -> None:
    client = client_for(rex)
    ok = client.post("/api/jobs", {"kind": "bandit_screen", "params": {
        "combinations": [["DRUG_ASPIRIN", "warfarin"], ["DRUG_AMLODIPINE"]]}}, content_type="application/json")
    bad = client.post("/api/jobs", {"kind": "bandit_screen", "params": {
        "combinations": [["DRUG_ASPIRIN"], ["Foo"], ["aspirin", 3]]}}, content_type="application/json")

    assert ok.status_code == 201, ok.content
    assert Job.objects.get(pk=ok.json()["id"]).params["combinations"] == [["DRUG_ASPIRIN", "DRUG_WARFARIN"],
                                                                         ["DRUG_AMLODIPINE"]]
    assert bad.status_code == 422
    detail = bad.json()["detail"]
    assert [d["loc"] for d in detail] == [["body", "params", "combinations", "1"],
                                          ["body", "params", "combinations", "2"]]
    assert detail[0]["msg"].startswith("combinations.1: Unknown drug 'Foo' (the model knows the 34 drugs")
    assert "strings" in detail[1]["msg"]


def test_every_given_combination_is_in_the_result_with_its_scores_and_known_rr(tiny_model: Checkpoint,
                                                                                rex: User) -> None:
    scorer = bandit_scorer(tiny_model)
    seen = scorer.drugs_of(scorer.dataset_X()[0])  # one the model was trained on
    job = run_job("bandit_screen", {"checkpoint": "tiny", "combinations": [seen, *TRIO_IDS]}, owner=rex)

    assert job.status == Job.Status.SUCCEEDED, job.error
    result = job.result
    rows = result["combinations"]
    assert result["n"] == 4 and len(rows) == 4 and [r["drugs"] for r in rows[1:]] == [sorted(c) for c in TRIO_IDS]
    for r in rows:
        assert r["lower_bound"] == pytest.approx(r["predicted_rr"] - 3 * r["sigma"], abs=1e-5)  # float32
        assert r["flagged"] == (r["lower_bound"] > result["threshold"])
    assert rows[0]["known_rr_from"] == "training data"
    assert rows[0]["known_rr"] == pytest.approx(float(scorer.dataset["rr"][0]), abs=1e-6)
    X, _ = scorer.encode([r["drugs"] for r in rows[1:]])
    rules = expected_rr(catalog_get("classic"), scorer.drug_ids, X)
    for r, rr in zip(rows[1:], rules):
        if r["known_rr_from"] == "catalog rules":  # unless the model happened to see it in training
            assert r["known_rr"] == pytest.approx(rr, abs=1e-6)
    assert rows[3]["known_rr"] > 1.1  # tramadol with amitriptyline: a severe pair
    assert result["drug_names"]["DRUG_ASPIRIN"] == "aspirin"

    html = client_for(rex).get(reverse("jobs:detail", args=[job.pk])).content.decode()
    table = re.search(r'<div class="card table-card" data-table="combinations">.*?</table>', html, re.S).group(0)
    assert "Combinations (all 4, in the order given)" in table and 'class="grid results sortable"' in table
    assert "<td>aspirin + warfarin</td>" in table and table.count("<tr>") == 5
    second = rows[1]
    assert (f"<td>{num(second['predicted_rr'])}</td><td>{num(second['sigma'])}</td>"
            f"<td>{num(second['lower_bound'])}</td>") in table
    # Few combinations: one estimate each, on an axis that starts at 0.
    svg = re.search(r'<svg[^>]*aria-label="Predicted RR of the 4 combinations".*?</svg>', html, re.S).group(0)
    assert svg.count("<circle") == 4 and "threshold 1.1" in svg
    assert not re.search(r'class="tick">-', svg)


def test_no_flagged_combination_is_said_in_a_message_not_an_empty_table(tiny_model: Checkpoint, rex: User) -> None:
    job = run_job("bandit_screen", {"checkpoint": "tiny", "combinations": [["DRUG_AMLODIPINE"]]}, owner=rex)
    assert job.result["n_flagged"] == 0  # a tiny model, a harmless drug

    html = client_for(rex).get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert '<p class="banner note" role="status">No combination is flagged: none of the 1 has its lower bound ' \
           '(μ − 3σ) above the threshold 1.1.</p>' in html
    assert "<td>amlodipine</td>" in html and "<td>no</td>" in html


def test_many_combinations_give_the_ranked_curve_a_shorter_page_and_complete_downloads(tiny_model: Checkpoint,
                                                                                       rex: User) -> None:
    drugs = sorted(catalog_get("classic").drugs)
    combos = [[d] for d in drugs] + [[a, b] for i, a in enumerate(drugs) for b in drugs[i + 1:]][:501 - len(drugs)]
    job = run_job("bandit_screen", {"checkpoint": "tiny", "combinations": combos}, owner=rex)
    client = client_for(rex)

    html = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "Combinations (the first 500 of 501, in the order given; the downloads have all)" in html
    assert 'aria-label="Scores of the 501 combinations, ranked by their bound"' in html
    rows = _csv(client.get(f"/jobs/{job.pk}/download/combinations.csv").content)
    stored = job.result["combinations"]
    assert rows[0] == ["#", "drugs", "predicted RR (μ)", "σ", "lower bound (μ − 3σ)", "flagged", "known RR",
                       "known RR from"]
    assert len(rows) == 1 + len(stored) == 502
    for row, r in zip(rows[1:], stored):  # the CSV's numbers are the stored ones, at the shown precision
        assert row[2:5] == [f"{num(r['predicted_rr'])}", f"{num(r['sigma'])}", f"{num(r['lower_bound'])}"]
        assert row[5] == ("yes" if r["flagged"] else "no") and row[6] == f"{num(r['known_rr'])}"
    api = client.get(f"/api/jobs/{job.pk}/tables/combinations").json()
    assert len(api["rows"]) == 501 and api["rows"][500][0] == 501


def test_a_screening_job_scores_the_models_training_combinations(tiny_model: Checkpoint, rex: User) -> None:
    job = run_job("bandit_screen", {}, owner=rex)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.params == {"checkpoint": "tiny", "combinations": "all", "checkpoint_path": tiny_model.path}
    result = job.result
    assert result["n"] == 1000 and result["source"] == "the model's training combinations"
    assert result["truth"]["n_pip"] > 0 and len(result["quantiles"]["mu"]) == 101
    top = result["top"]
    assert len(top) == 1000 and [r["lower_bound"] for r in top] == sorted((r["lower_bound"] for r in top), reverse=True)
    assert sum(r["flagged"] for r in top) == result["n_flagged"]
    assert all(r["flagged"] == (r["lower_bound"] > 1.1) and "true_rr" in r for r in top)

    page = client_for(rex).get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "<svg" in page and "Scores of the 1000 combinations, ranked" in page
    assert f"Top combinations by lower bound (μ − 3σ) (200 of 1,000; {result['n_flagged']:,} flagged; " \
           "the downloads have 1,000)" in page


def test_the_admin_queues_a_screening_job_again_with_what_it_was_asked(tiny_model: Checkpoint, rex: User) -> None:
    from jobs.services import job_execute

    first = run_job("bandit_screen", {"combinations": TRIO_IDS}, owner=rex)
    assert "checkpoint_path" in first.params  # derived and stored: the form would refuse it
    admin = User.objects.create_superuser("ada", password="admin-password-1")

    response = client_for(admin).post(reverse("admin:jobs_job_changelist"),
                                      {"action": "requeue_jobs", "_selected_action": [first.pk]}, follow=True)

    assert response.status_code == 200
    copy = Job.objects.filter(kind="bandit_screen").exclude(pk=first.pk).get()
    assert "1 job(s) queued again: #%d." % copy.pk in response.content.decode()
    assert copy.params == first.params and copy.owner == admin
    assert job_execute(job_id=copy.pk, worker="pytest:1").status == Job.Status.SUCCEEDED


def test_screening_without_any_model_is_refused_saying_to_train_one(db: None, artifacts) -> None:
    with pytest.raises(JobError) as caught:
        job_create(kind="bandit_screen", params={})
    assert caught.value.field == "params.checkpoint" and "No trained bandit model yet" in caught.value.message
    assert not Job.objects.exists()


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"checkpoint": "nope"}, "params.checkpoint", "No bandit model named 'nope'. Known models: tiny"),
    ({"combinations": [["DRUG_WARFARIN"], ["DRUG_WARFARIN", "DRUG_UNOBTAINIUM"]]}, "params.combinations.1",
     "Unknown drug 'DRUG_UNOBTAINIUM'"),
    ({"combinations": [["DRUG_WARFARIN"]] * 10_001}, "params.combinations", "At most 10,000"),
    ({"combinations": [["DRUG_WARFARIN"] * 40] * 2_501}, "params.combinations", "At most 100,000 drug ids in all"),
    ({"combinations": [["DRUG_WARFARIN"], ["DRUG_WARFARIN"] * 41]}, "params.combinations.1",
     "At most 40 drugs per combination, got 41"),
    ({"combinations": "warfarin\n" + "+".join(["aspirin"] * 41)}, "params.combinations",
     "line 2: at most 40 drugs per combination, got 41"),
    ({"combinations": "some"}, "params.combinations", "line 1: unknown drug 'some'"),  # a form's one line
    ({"combinations": "[[1, 2"}, "params.combinations", "Malformed JSON"),
    ({"combinations": []}, "params.combinations", "lists of drug ids or names"),
    ({"combinations": {"a": 1}}, "params.combinations", "lists of drug ids or names"),
    ({"combinations": [[]]}, "params.combinations.0", "at least one drug"),
])
def test_invalid_screening_parameters_are_refused_naming_the_field(tiny_model: Checkpoint, params: dict, field: str,
                                                                    words: str) -> None:
    before = Job.objects.count()
    with pytest.raises(JobError) as caught:
        job_create(kind="bandit_screen", params=params)
    assert caught.value.field == field and words in caught.value.message
    assert Job.objects.count() == before
