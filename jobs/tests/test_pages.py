"""The job pages and the admin: list with progress bars, the form, detail with plots, compare."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from agents.formatting import format_mean_interval, format_number
from agents.stats import summary_interval
from jobs import services
from jobs.models import Job
from jobs.tests.conftest import TINY_TRAIN
from testsupport.world import client_for

pytestmark = pytest.mark.django_db


def test_the_list_shows_each_job_with_a_progress_bar(classic, rex):
    job = services.job_create(kind="evaluate", params={"catalog": "classic"}, owner=rex)
    Job.objects.filter(pk=job.pk).update(status="running", progress=42.0, stage="evaluating: episode 42/100",
                                         worker="elsewhere:1", heartbeat_at=timezone.now())
    html = client_for(rex).get("/jobs/").content.decode()
    assert f'data-job-id="{job.pk}"' in html and '<progress class="fill running" max="100" value="42.0">' in html
    assert "evaluating: episode 42/100" in html and "jobs/jobs.js" in html


def test_the_list_writes_nothing_even_with_a_dead_workers_job(classic, rex, settings):
    # A GET must not write: reaping is the workers' reaper's and ``manage.py reap_jobs``'s job.
    settings.JOBS_STALE_AFTER_S = 60
    job = services.job_create(kind="evaluate", params={"catalog": "classic"}, owner=rex)
    Job.objects.filter(pk=job.pk).update(status="running", worker="elsewhere:1", attempts=1,
                                         heartbeat_at=timezone.now() - timedelta(seconds=600))
    assert client_for(rex).get("/jobs/").status_code == 200
    job.refresh_from_db()
    assert job.status == "running" and job.worker == "elsewhere:1"


def test_the_progress_feed_reports_status_and_progress(classic, rex):
    job = services.job_create(kind="evaluate", params={"catalog": "classic"}, owner=rex)
    Job.objects.filter(pk=job.pk).update(status="running", progress=12.5, worker="elsewhere:1",
                                         heartbeat_at=timezone.now())
    body = client_for(rex).get(f"/jobs/progress.json?ids={job.pk},999").json()
    [row] = body["jobs"]
    assert {k: v for k, v in row.items() if k != "duration_s"} == {
        "id": job.pk, "status": "running", "progress": 12.5, "stage": "queued", "error": "", "attempts": 0}
    assert row["duration_s"] is None  # not started: the list's "ran for" stays "—"
    assert client_for(rex).get("/jobs/progress.json?ids=a,b").status_code == 422


def test_the_form_refuses_bad_parameters_with_the_message_at_the_field(classic, rex):
    client = client_for(rex)
    form = client.get("/jobs/new/train_policy/").content.decode()
    assert 'name="total_steps" value="200000"' in form and 'name="hidden" value="256,256"' in form
    resp = client.post("/jobs/new/train_policy/", {"catalog": "classic", "total_steps": "12", "hidden": "64,64"})
    assert resp.status_code == 422
    html = resp.content.decode()
    assert re.search(r'data-field="total_steps"><li>total_steps: Ensure this value is greater than or equal to 1024',
                     html)
    assert 'name="total_steps" value="12"' in html  # what was typed is kept
    assert Job.objects.count() == 0


def test_the_form_queues_a_job_and_shows_it(classic, rex):
    resp = client_for(rex).post("/jobs/new/train_policy/", {"catalog": "classic", "total_steps": "2048",
                                                             "hidden": "32, 32", "checkpoint_name": ""})
    job = Job.objects.get()
    assert resp.status_code == 302 and resp["Location"] == f"/jobs/{job.pk}/"
    assert job.params["hidden"] == [32, 32] and job.params["total_steps"] == 2048 and job.owner == rex


def test_a_finished_training_job_shows_its_plots_results_and_checkpoint(classic, rex):
    job = services.job_create(kind="train_policy", params={**TINY_TRAIN, "checkpoint_name": "page-tiny"}, owner=rex)
    services.job_execute(job_id=job.pk)
    html = client_for(rex).get(f"/jobs/{job.pk}/").content.decode()
    assert html.count("<svg") >= 3  # learning curve, entropy, test score histogram
    assert "Learning curve" in html and "<polyline" in html and "Greedy test scores on easy_screening" in html
    assert "policy:page-tiny" in html and "Test (greedy, seeds 10000…)" in html
    panel = client_for(rex).get(f"/jobs/{job.pk}/panel").content.decode()
    assert "<svg" in panel


def test_an_evaluation_job_shows_a_score_distribution_and_the_comparison_page_lists_it(classic, rex):
    job = services.job_create(kind="evaluate", params={"catalog": "classic", "task_id": "easy_screening",
                                                       "episodes": 5}, owner=rex)
    services.job_execute(job_id=job.pk)
    html = client_for(rex).get(f"/jobs/{job.pk}/").content.decode()
    assert "Score distribution (heuristic)" in html and "<rect" in html and "Episodes" in html
    compare = client_for(rex).get("/jobs/compare/").content.decode()
    assert "easy_screening" in compare and "<code>heuristic</code>" in compare
    job.refresh_from_db()
    summary = job.result["summary"]
    assert '<th scope="col">normalised</th>' in compare and "full-information planner" in compare
    assert f"<td>{format_number(summary['normalised_score'])}</td>" in compare
    assert f"{format_number(summary['random_score'])} · {format_number(summary['oracle_score'])}" in compare
    assert format_mean_interval(summary["mean_score"], summary_interval(summary)) in compare


def test_pages_need_a_role(classic, phil):
    assert Client().get("/jobs/").status_code == 302  # to the login page
    assert client_for(phil).get("/jobs/").status_code == 403
    assert client_for(phil).post("/jobs/new/evaluate/", {}).status_code == 403


def test_cancel_from_the_page(classic, rex):
    job = services.job_create(kind="evaluate", params={"catalog": "classic"}, owner=rex)
    resp = client_for(rex).post(f"/jobs/{job.pk}/cancel")
    job.refresh_from_db()
    assert resp.status_code == 302 and job.status == "cancelled"


def test_the_admin_lists_jobs_with_progress_and_shows_plots(classic, rex):
    admin = User.objects.create_superuser("root", password="x")
    job = services.job_create(kind="train_policy", params=TINY_TRAIN, owner=rex)
    services.job_execute(job_id=job.pk)
    client = client_for(admin)
    listing = client.get("/admin/jobs/job/").content.decode()
    assert '<progress max="100" value="100"' in listing
    change = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "<svg" in change and "Learning curve" in change
    assert client.get("/admin/jobs/checkpoint/").status_code == 200
