"""Downloads: every table of a job page as CSV and JSON (pages and API), the whole job as stored,
and checkpoint files. Each download is read back and checked against the stored result."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from agents.formatting import format_mean_interval, format_number
from agents.stats import summary_interval
from jobs import downloads, selectors, services
from jobs.models import Checkpoint, Job
from jobs.presenters import Table
from jobs.tests.conftest import TINY_TRAIN
from testsupport.world import client_for

pytestmark = pytest.mark.django_db


def _csv(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode())))


def _body(resp) -> bytes:
    return b"".join(resp.streaming_content) if resp.streaming else resp.content


@pytest.fixture
def evaluation(classic, rex) -> Job:
    job = services.job_create(kind="evaluate", params={"catalog": "classic", "task_id": "easy_screening",
                                                       "episodes": 4}, owner=rex)
    services.job_execute(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_every_table_on_the_page_has_csv_and_json_downloads_with_the_stored_numbers(evaluation, rex):
    client = client_for(rex)
    page = client.get(f"/jobs/{evaluation.pk}/").content.decode()
    keys = [t.key for t in downloads.tables(evaluation)]
    assert keys == ["summary", "episodes"]
    for key in keys:
        assert f'href="/jobs/{evaluation.pk}/download/{key}.csv"' in page
        assert f'href="/jobs/{evaluation.pk}/download/{key}.json"' in page
    resp = client.get(f"/jobs/{evaluation.pk}/download/episodes.csv")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    assert f'filename="job-{evaluation.pk}-episodes.csv"' in resp["Content-Disposition"]
    rows = _csv(resp.content)
    assert rows[0] == ["seed", "patient", "score", "baseline risk", "final risk", "steps", "invalid", "truncated"]
    stored = evaluation.result["per_episode"]
    assert len(rows) == 1 + len(stored) == 5
    for row, episode in zip(rows[1:], stored):
        assert int(row[0]) == episode["seed"] and row[1] == episode["patient_id"]
        assert float(row[2]) == pytest.approx(episode["grader_score"], abs=5e-4)
        assert int(row[5]) == episode["steps"]
    as_json = json.loads(client.get(f"/jobs/{evaluation.pk}/download/episodes.json").content)
    assert as_json["columns"] == rows[0] and [[str(c) for c in r] for r in as_json["rows"]] == rows[1:]
    summary = _csv(client.get(f"/jobs/{evaluation.pk}/download/summary.csv").content)
    stored = evaluation.result["summary"]
    score = summary[0].index("mean score [95 % CI]")
    assert summary[1][score] == format_mean_interval(stored["mean_score"], summary_interval(stored))
    assert summary[1][score + 1] == format_number(stored["std_score"]) and summary[1][4] == "10000–10003"


def test_the_whole_job_downloads_unrounded(evaluation, rex):
    resp = client_for(rex).get(f"/jobs/{evaluation.pk}/download/job.json")
    doc = json.loads(resp.content)
    assert resp.status_code == 200 and doc["id"] == evaluation.pk and doc["kind"] == "evaluate"
    assert doc["result"] == evaluation.result and doc["params"] == evaluation.params


def test_the_api_lists_and_serves_the_same_tables(evaluation, rex):
    client = client_for(rex)
    index = client.get(f"/api/jobs/{evaluation.pk}/tables").json()
    assert [(t["key"], t["rows"]) for t in index["tables"]] == [("summary", 1), ("episodes", 4)]
    api_json = client.get(f"/api/jobs/{evaluation.pk}/tables/episodes").json()
    page_json = json.loads(client.get(f"/jobs/{evaluation.pk}/download/episodes.json").content)
    assert api_json == page_json
    api_csv = client.get(f"/api/jobs/{evaluation.pk}/tables/episodes.csv")
    assert api_csv.status_code == 200 and api_csv.content == client.get(
        f"/jobs/{evaluation.pk}/download/episodes.csv").content
    # A client asking for the download's own type gets it (not DRF's 406).
    assert client.get(f"/api/jobs/{evaluation.pk}/tables/episodes.csv", HTTP_ACCEPT="text/csv").content == \
        api_csv.content
    missing = client.get(f"/api/jobs/{evaluation.pk}/tables/nope")
    assert missing.status_code == 404 and "its tables: summary, episodes" in missing.json()["detail"]
    assert client.get(f"/jobs/{evaluation.pk}/download/nope.csv").status_code == 404
    assert client.get(f"/jobs/{evaluation.pk}/download/episodes.xml").status_code == 404


def test_a_checkpoint_file_downloads_byte_for_byte(classic, rex):
    job = services.job_create(kind="train_policy", params={**TINY_TRAIN, "checkpoint_name": "dl-tiny"}, owner=rex)
    services.job_execute(job_id=job.pk)
    client = client_for(rex)
    assert 'href="/jobs/checkpoints/dl-tiny/file"' in client.get(f"/jobs/{job.pk}/").content.decode()
    stored = selectors.checkpoint_file(Checkpoint.objects.get(name="dl-tiny")).read_bytes()
    for url in ("/jobs/checkpoints/dl-tiny/file", "/api/checkpoints/dl-tiny/file"):
        resp = client.get(url)
        assert resp.status_code == 200 and "attachment" in resp["Content-Disposition"]
        assert _body(resp) == stored
    assert client.get("/api/checkpoints/nope/file").status_code == 404
    assert _body(client.get("/api/checkpoints/dl-tiny/file", HTTP_ACCEPT="application/octet-stream")) == stored
    # A path edited in the database to point outside the artefact folder serves nothing.
    Checkpoint.objects.filter(name="dl-tiny").update(path="../../../../../../etc/passwd")
    for url in ("/jobs/checkpoints/dl-tiny/file", "/api/checkpoints/dl-tiny/file"):
        assert client.get(url).status_code == 404
    # Nor does it load as a policy: an evaluation of it fails naming the reason.
    with pytest.raises(LookupError, match="outside the artefact folder"):
        selectors.checkpoint_path("dl-tiny")
    evaluation = services.job_create(kind="evaluate", params={"agent": "policy:dl-tiny", "episodes": 1}, owner=rex)
    services.job_execute(job_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == Job.Status.FAILED and "outside the artefact folder" in evaluation.error
    Checkpoint.objects.filter(name="dl-tiny").update(path=f"job-{job.pk}/../../{job.pk}-elsewhere.pt")
    assert client.get("/jobs/checkpoints/dl-tiny/file").status_code == 404
    # Every table of a training job downloads too, and its test table holds the stored means.
    test_rows = _csv(client.get(f"/jobs/{job.pk}/download/test.csv").content)
    job.refresh_from_db()
    t = job.result["test"]["easy_screening"]
    assert test_rows[1][0] == "easy_screening"
    assert test_rows[1][1] == format_mean_interval(t["mean_score"], summary_interval(t)) and t["score_ci95"]


def test_downloads_need_the_jobs_role(evaluation, phil):
    assert Client().get(f"/jobs/{evaluation.pk}/download/episodes.csv").status_code == 302
    assert client_for(phil).get(f"/jobs/{evaluation.pk}/download/episodes.csv").status_code == 403
    assert Client().get(f"/api/jobs/{evaluation.pk}/tables/episodes").status_code == 401
    assert client_for(phil).get(f"/api/jobs/{evaluation.pk}/tables/episodes.csv").status_code == 403


def test_csv_cells_that_a_spreadsheet_would_run_are_defused():
    text = downloads.table_csv(Table("t", ["agent", "x"], [["=HYPERLINK(\"http://x\")", "-0.25"], ["@SUM(A1)", "+3"]]))
    rows = _csv(text.encode())
    assert rows[1] == ["'=HYPERLINK(\"http://x\")", "-0.25"] and rows[2] == ["'@SUM(A1)", "+3"]
