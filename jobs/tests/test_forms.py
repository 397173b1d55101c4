"""The job forms and the jobs list as a researcher uses them: every field error at once, the
agent picker that brings a policy's own task and catalog, consistent defaults, and a list that
says what each job was about and how it came out."""

from __future__ import annotations

import re

import pytest

from agents.formatting import format_mean_interval, format_number
from agents.stats import summary_interval
from jobs import services
from jobs.models import Job
from jobs.tests.conftest import TINY_TRAIN
from testsupport.world import client_for

pytestmark = pytest.mark.django_db


def test_every_bad_field_is_reported_at_once_on_the_page_and_in_the_api(classic, rex):
    client = client_for(rex)
    resp = client.post("/jobs/new/train_policy/", {"catalog": "classic", "total_steps": "12", "lr": "5",
                                                   "hidden": "64,x"})
    assert resp.status_code == 422
    html = resp.content.decode()
    fields = re.findall(r'data-field="([a-z_]+)"', html)
    assert fields == ["total_steps", "lr", "hidden"]  # in the form's order
    assert "3 fields to correct: nothing was queued." in html
    assert 'id="id_lr" name="lr" value="5" aria-invalid="true" aria-describedby="err_lr"' in html
    body = client.post("/api/jobs", {"kind": "train_policy", "params": {"total_steps": 12, "lr": 5}},
                       content_type="application/json").json()
    assert [item["loc"] for item in body["detail"]] == [["body", "params", "total_steps"], ["body", "params", "lr"]]
    assert Job.objects.count() == 0


@pytest.mark.parametrize("kind, field", [("train_policy", "lr"), ("train_policy", "ent_coef"),
                                         ("bandit_train", "mean_size")])
@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-Infinity"])
def test_a_float_field_typed_as_nan_or_infinity_is_refused_at_its_field(classic, rex, kind, field, value):
    # A form posts text, which the JSON layer never sees: "NaN" passed every min/max and then
    # failed the database's JSON check as a 500.
    resp = client_for(rex).post(f"/jobs/new/{kind}/", {field: value})
    assert resp.status_code == 422
    assert re.findall(r'data-field="([a-z_]+)"', resp.content.decode()) == [field]
    assert "A finite number is required" in resp.content.decode()
    # The API too, where it comes as a JSON string (a JSON NaN is refused before any serializer).
    body = client_for(rex).post("/api/jobs", {"kind": kind, "params": {field: value}},
                                content_type="application/json").json()
    assert [item["loc"] for item in body["detail"]] == [["body", "params", field]]
    assert Job.objects.count() == 0


def test_evaluation_and_training_default_to_the_same_task(classic, rex):
    client = client_for(rex)
    for kind in ("train_policy", "evaluate"):
        html = client.get(f"/jobs/new/{kind}/").content.decode()
        assert re.search(r'<select id="id_task_id" name="task_id">.*?<option selected>easy_screening</option>', html,
                         re.S), kind


def test_the_agent_picker_lists_policies_with_their_task_and_an_evaluation_runs_on_it(classic, rex):
    trained = services.job_create(kind="train_policy", params={**TINY_TRAIN, "task_id": "budgeted_screening",
                                                               "checkpoint_name": "pick-me"}, owner=rex)
    services.job_execute(job_id=trained.pk)
    client = client_for(rex)
    html = client.get("/jobs/new/evaluate/").content.decode()
    assert '<select id="id_agent" name="agent" class="agent-picker">' in html
    assert re.search(r'<option value="policy:pick-me" data-task="budgeted_screening" data-catalog="classic" >'
                     r'policy:pick-me — budgeted_screening, classic, test \d\.\d{3} \[-?\d\.\d{3}, \d\.\d{3}\]</option>',
                     html)
    assert '<optgroup label="Built-in agents">' in html and 'value="oracle"' in html
    # Left out, the task and catalog are the checkpoint's; given, they are kept (transfer runs).
    job = services.job_create(kind="evaluate", params={"agent": "policy:pick-me", "episodes": 2}, owner=rex)
    assert (job.params["task_id"], job.params["catalog"]) == ("budgeted_screening", "classic")
    job = services.job_create(kind="evaluate", params={"agent": "policy:pick-me", "task_id": "easy_screening",
                                                       "episodes": 2}, owner=rex)
    assert (job.params["task_id"], job.params["catalog"]) == ("easy_screening", "classic")


def test_the_list_shows_task_agent_duration_and_headline(classic, rex):
    job = services.job_create(kind="evaluate", params={"catalog": "classic", "task_id": "easy_screening",
                                                       "episodes": 3}, owner=rex)
    services.job_execute(job_id=job.pk)
    queued = services.job_create(kind="evaluate", params={"catalog": "classic", "agent": "random"}, owner=rex)
    job.refresh_from_db()
    s = job.result["summary"]
    html = client_for(rex).get("/jobs/").content.decode()
    row = re.search(rf'<tr><td><a href="/jobs/{job.pk}/">.*?</tr>', html, re.S).group(0)
    assert "<td>easy_screening</td>" in row and "<code>heuristic</code>" in row
    mean = format_mean_interval(s["mean_score"], summary_interval(s))
    assert f'<td class="headline">{mean} (normalised {format_number(s["normalised_score"])})</td>' in row
    assert re.search(rf'class="ran-for" data-job-id="{job.pk}">\d+ s<', row)
    queued_row = re.search(rf'<tr><td><a href="/jobs/{queued.pk}/">.*?</tr>', html, re.S).group(0)
    assert "<code>random</code>" in queued_row and '<td class="headline">—</td>' in queued_row
    feed = client_for(rex).get(f"/jobs/progress.json?ids={job.pk}").json()["jobs"][0]
    assert feed["duration_s"] == pytest.approx(job.duration_s)
