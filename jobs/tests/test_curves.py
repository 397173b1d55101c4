"""The curves overlay (/jobs/curves/?ids=…): the learning curves of any set of training jobs on
one chart per quantity, one colour per run and a legend naming each; bad ids refused with a
message, unknown ones said."""

from __future__ import annotations

import re

import pytest

from jobs import services
from jobs.overlay import MAX_RUNS
from jobs.plots import RUN_COLORS
from testsupport.world import client_for
from jobs.tests.stored import stored_evaluation, stored_training

pytestmark = pytest.mark.django_db


def test_two_training_runs_overlay_with_one_colour_each_and_a_legend(classic, rex):
    a = stored_training(name="ppo-s0", mean=0.62, seed=0, owner=rex)
    b = stored_training(name="ppo-s1", mean=0.55, seed=1, rise=0.5, owner=rex)
    resp = client_for(rex).get(f"/jobs/curves/?ids={a.pk},{b.pk}")
    html = resp.content.decode()
    assert resp.status_code == 200 and "Learning curves of 2 runs" in html
    validation, training = re.findall(r"<svg [^>]*class=\"plot\".*?</svg>", html, re.S)
    assert "Greedy validation score on easy_screening (seeds 20000–20049)" in validation
    assert "Training episodes&#x27; score" in training
    for svg in (validation, training):
        assert re.findall(r'<polyline [^>]*stroke="(#[0-9a-f]+)"', svg) == list(RUN_COLORS[:2])
        assert f">job {a.pk}</tspan>" in svg and f">job {b.pk}</tspan>" in svg  # the chart's own legend
    legend = re.search(r'<ul class="run-legend">(.*?)</ul>', html, re.S)[1]
    for job, name, colour in ((a, "ppo-s0", RUN_COLORS[0]), (b, "ppo-s1", RUN_COLORS[1])):
        item = re.search(rf'<li data-job-id="{job.pk}">(.*?)</li>', legend, re.S)[1]
        assert f'fill="{colour}"' in item and f"<code>policy:{name}</code>" in item
        assert "easy_screening" in item and "classic" in item and f"seed {job.params['seed']}" in item


def test_the_pages_checkboxes_send_repeated_ids(classic, rex):
    a = stored_training(name="ppo-s0", mean=0.62, owner=rex)
    b = stored_training(name="ppo-s1", mean=0.55, owner=rex)
    compare = client_for(rex).get("/jobs/compare/").content.decode()
    listing = client_for(rex).get("/jobs/").content.decode()
    for html in (compare, listing):
        assert 'action="/jobs/curves/"' in html
        assert f'name="ids" value="{a.pk}"' in html and f'name="ids" value="{b.pk}"' in html
    html = client_for(rex).get(f"/jobs/curves/?ids={a.pk}&ids={b.pk}&ids={a.pk}").content.decode()
    assert "Learning curves of 2 runs" in html


@pytest.mark.parametrize("ids", ["3,x", "-1", "1.5", "²", "9" * 30, ",".join(map(str, range(1, MAX_RUNS + 2)))])
def test_bad_ids_are_a_422_with_the_reason(classic, rex, ids):
    resp = client_for(rex).get("/jobs/curves/", {"ids": ids})
    assert resp.status_code == 422
    assert re.search(r'<p class="error" role="alert">ids', resp.content.decode())


def test_unknown_ids_and_other_kinds_are_said_and_the_rest_shown(classic, rex):
    run = stored_training(name="ppo-s0", mean=0.62, owner=rex)
    evaluation = stored_evaluation(owner=rex)
    queued = services.job_create(kind="train_policy", params={"catalog": "classic"}, owner=rex)
    resp = client_for(rex).get(f"/jobs/curves/?ids={run.pk},{evaluation.pk},999,{queued.pk}")
    html = resp.content.decode()
    assert resp.status_code == 200 and "Learning curves of 2 runs" in html
    assert "No job 999: not shown." in html
    assert f"Job {evaluation.pk} (evaluation) is not a policy training" in html
    assert f"job {queued.pk}: no points yet" in html
    assert html.count("<polyline") == 2  # the finished run on both charts; the queued one has none


def test_without_ids_the_page_says_how_to_choose(classic, rex):
    html = client_for(rex).get("/jobs/curves/").content.decode()
    assert "Choose training jobs to overlay" in html and "/jobs/curves/?ids=3,5,8" in html


def test_the_overlay_needs_the_jobs_role(classic, phil):
    assert client_for(phil).get("/jobs/curves/?ids=1").status_code == 403
