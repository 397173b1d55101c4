"""The comparison page: every mean with its 95 % interval, the same text as the job page and the
admin for the same stored number, and rows on other seeds kept out of the task's ranking."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from jobs.comparison import comparison_groups
from testsupport.world import client_for
from jobs.tests.stored import stored_evaluation, stored_training

pytestmark = pytest.mark.django_db

# mean 0.3125, population std 0.25, 20 episodes (see agents/tests/test_stats.py for the sums).
MEAN_CI = "0.313 [0.192, 0.433]"


def _tbodies(html: str) -> dict[str, str]:
    """Each seed set's <tbody> on the page, by its class (reference / off-reference) and seeds."""
    return {f"{m[1]} {m[2]}": m[3] for m in re.finditer(
        r'<tbody class="seed-set (reference|off-reference)" data-seeds="([^"]+)">(.*?)</tbody>', html, re.S)}


def _row(html: str, agent: str) -> str:
    found = re.search(rf'<tr data-agent="{re.escape(agent)}">(.*?)</tr>', html, re.S)
    assert found, f"no row for {agent}"
    return found[1]


def test_one_stored_mean_reads_the_same_on_the_job_page_the_comparison_and_the_admin(classic, rex):
    # 0.3125 and 3.15 round to 0.312 and 3.1 with Python's format but 0.313 and 3.2 with Django's
    # floatformat: the page and the comparison used to disagree on them.
    job = stored_evaluation(mean=0.3125, std=0.25, episodes=20, owner=rex)
    page = client_for(rex).get(f"/jobs/{job.pk}/").content.decode()
    compare = client_for(rex).get("/jobs/compare/").content.decode()
    admin = client_for(User.objects.create_superuser("root", password="x")).get(
        f"/admin/jobs/job/{job.pk}/change/").content.decode()
    for html in (page, admin):
        assert f"<td>{MEAN_CI}</td>" in html and "<td>3.2</td>" in html and "0.312" not in html
    row = _row(compare, "heuristic")
    assert f'<td class="mean-ci ci-score">{MEAN_CI}</td>' in row and "<td>3.2</td>" in row and "<td>0.250</td>" in row
    assert "mean score [95 % CI]" in page and "mean score [95 % CI]" in compare
    # The risk reduction's interval too (mean 0.25, population std 0.1): one text on both pages.
    risk = "0.250 [0.202, 0.298]"
    assert f"<td>{risk}</td>" in page and f'<td class="mean-ci ci-risk">{risk}</td>' in row
    listing = client_for(rex).get("/jobs/").content.decode()
    assert f'<td class="headline">{MEAN_CI} (normalised 0.292)</td>' in listing


def test_a_training_jobs_test_table_shows_its_interval(classic, rex):
    job = stored_training(name="ci-run", mean=0.3125, std=0.25, episodes=20, owner=rex)
    page = client_for(rex).get(f"/jobs/{job.pk}/").content.decode()
    assert f"<td>{MEAN_CI}</td>" in page and "<td>10000–10019</td>" in page
    compare = client_for(rex).get("/jobs/compare/").content.decode()
    assert f'<td class="mean-ci ci-score">{MEAN_CI}</td>' in _row(compare, "policy:ci-run")
    form = client_for(rex).get("/jobs/new/evaluate/").content.decode()
    assert f"policy:ci-run — easy_screening, classic, test {MEAN_CI}" in form


def test_rows_on_other_seeds_are_grouped_flagged_and_kept_out_of_the_ranking(classic, rex):
    stored_evaluation(agent="heuristic", mean=0.40, std=0.2, episodes=20, owner=rex)
    stored_evaluation(agent="random", mean=0.05, std=0.05, episodes=20, owner=rex)
    stored_training(name="ppo-a", mean=0.55, episodes=20, owner=rex)
    # The best mean of all, but on five other patients: not the task's best.
    stored_evaluation(agent="oracle", mean=0.97, std=0.02, episodes=5, seed_start=0, owner=rex)
    html = client_for(rex).get("/jobs/compare/").content.decode()
    bodies = _tbodies(html)
    assert list(bodies) == ["reference 10000–10019", "off-reference 0–4"]
    reference, other = bodies["reference 10000–10019"], bodies["off-reference 0–4"]
    assert [m for m in re.findall(r'<tr data-agent="([^"]+)"><td class="rank">(\d+)', reference)] == [
        ("policy:ppo-a", "1"), ("heuristic", "2"), ("random", "3")]
    assert "oracle" not in reference and '<tr data-agent="oracle"><td class="rank">1' in other
    assert "not on this task&#x27;s reference set (seeds 10000–10019 (20 episodes))" in other
    assert "≠ reference" in other and "1 row on other seeds, not ranked with the reference set" in html


def test_the_reference_set_is_the_one_most_rows_share():
    def row(agent, mean, start, n):
        return {"catalog": "classic", "task_id": "easy_screening", "agent": agent, "mean": mean,
                "seed_start": start, "episodes": n}

    [task] = comparison_groups([row("a", 0.9, 0, 20), row("b", 0.5, 10000, 100), row("c", 0.4, 10000, 100),
                                row("d", None, 10000, 100), row("e", 0.7, None, None)])
    ref, *others = task.seed_sets
    assert (ref.start, ref.episodes, ref.reference) == (10000, 100, True)
    assert [(r["agent"], r["rank"]) for r in ref.rows] == [("b", 1), ("c", 2), ("d", None)]
    assert [(g.seeds, g.reference, bool(g.flag)) for g in others] == [("0–19", False, True),
                                                                      ("unknown seeds", False, True)]
    assert task.flagged == 2
    # A tie on rows: the set with more episodes.
    [tie] = comparison_groups([row("a", 0.9, 0, 20), row("b", 0.5, 10000, 100)])
    assert tie.seed_sets[0].episodes == 100


def test_a_newer_evaluation_on_other_seeds_does_not_replace_the_reference_one(classic, rex):
    stored_evaluation(agent="heuristic", mean=0.40, episodes=20, owner=rex)
    stored_evaluation(agent="heuristic", mean=0.10, episodes=5, seed_start=0, owner=rex)
    bodies = _tbodies(client_for(rex).get("/jobs/compare/").content.decode())
    assert "heuristic" in bodies["reference 10000–10019"] and "heuristic" in bodies["off-reference 0–4"]


def test_the_comparison_downloads_hold_every_row_unrounded_with_its_seed_set(classic, rex):
    stored_evaluation(agent="heuristic", mean=0.3125, episodes=20, owner=rex)
    stored_evaluation(agent="random", mean=0.10, episodes=20, owner=rex)
    stored_evaluation(agent="=cmd|' /C calc'!A0", mean=0.20, episodes=5, seed_start=0, owner=rex)
    client = client_for(rex)
    page = client.get("/jobs/compare/").content.decode()
    assert 'href="/jobs/compare/download.csv"' in page and 'href="/jobs/compare/download.json"' in page

    response = client.get("/jobs/compare/download.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert 'filename="policy-comparison.json"' in response["Content-Disposition"]
    body = response.json()
    rows = body["rows"]
    assert [(r["agent"], r["rank"], r["reference_set"], r["seeds"]) for r in rows] == [
        ("heuristic", 1, True, "10000–10019"), ("random", 2, True, "10000–10019"),
        ("=cmd|' /C calc'!A0", 1, False, "0–4")]
    assert rows[0]["mean_score"] == 0.3125 and rows[0]["ci_low"] < 0.3125 < rows[0]["ci_high"]
    assert set(body["columns"]) == set(rows[0])

    response = client.get("/jobs/compare/download.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].split(",") == body["columns"] and len(lines) == 4
    assert ",0.3125," in lines[1]
    assert "'=cmd|" in lines[3]  # a spreadsheet does not run it as a formula

    assert client.get("/jobs/compare/download.xml").status_code == 404
    client.logout()
    assert client.get("/jobs/compare/download.csv").status_code == 302  # to the login page
