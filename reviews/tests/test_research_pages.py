"""/research/'s filters (in the query string, so a filtered view is a link; refused values say
why and show no rows, never a 500) and an episode's drill-down: its steps, its outcome and score,
and nothing that names a person (user, patient id, time, rationale)."""

from __future__ import annotations

import re

import pytest

from reviews.tests.conftest import PATIENT, RATIONALE, SEVERE_PAIR
from testsupport.world import client_for

pytestmark = pytest.mark.django_db


def codes_of(response) -> set[str]:
    assert response.status_code == 200, response.content[:2000]
    return {row["code"] for row in response.context["rows"]}


# One world for all the cases of a test (building it takes half a second): a failing case names itself.
FILTERS = [
    ("", {"approved", "returned", "pending"}),
    ("catalog=classic", {"approved", "returned", "pending"}),
    ("catalog=curated", set()),
    ("task=easy_screening", {"approved", "returned"}),
    ("task=budgeted_screening", {"pending"}),
    ("task=complex_tradeoff", set()),
    ("outcome=approved", {"approved"}),
    ("outcome=returned", {"returned"}),
    ("outcome=pending", {"pending"}),
    ("min_score=0.1", {"approved"}),
    ("max_score=0.05", {"returned", "pending"}),
    ("min_score=0.001&max_score=0.001", {"returned", "pending"}),  # both bounds are inclusive
]


def test_each_filter_narrows_the_rows(research_world, rex):
    client = client_for(rex)
    for query, names in FILTERS:
        assert codes_of(client.get(f"/research/?{query}")) == {research_world.codes[n] for n in names}, query


def test_filters_combine(research_world, sue):
    client = client_for(sue)
    assert codes_of(client.get("/research/?task=easy_screening&outcome=returned")) == {research_world.codes["returned"]}
    assert codes_of(client.get("/research/?catalog=classic&task=easy_screening&min_score=0.1&outcome=approved")) == {
        research_world.codes["approved"]}
    assert codes_of(client.get("/research/?task=budgeted_screening&outcome=approved")) == set()


def test_a_filtered_view_links_its_downloads_and_drill_downs_with_its_filters(research_world, rex):
    page = client_for(rex).get("/research/?task=easy_screening&outcome=approved&page=3")
    html = page.content.decode()
    code = research_world.codes["approved"]
    assert 'href="/research/export.jsonl?task=easy_screening&amp;outcome=approved"' in html
    assert 'href="/research/export.minari.zip?task=easy_screening&amp;outcome=approved"' in html
    assert f'href="/research/{code}/?task=easy_screening&amp;outcome=approved"' in html
    assert "1 of 3 shown episodes matches these filters" in html


REFUSED = [
    ("catalog=nope", "catalog", "Choose one of classic, curated (not nope)."),
    ("task=hard", "task", "Choose one of easy_screening, budgeted_screening, complex_tradeoff (not hard)."),
    ("outcome=maybe", "outcome", "Choose one of pending, approved, returned (not maybe)."),
    ("min_score=abc", "min_score", "Enter a score from 0 to 1."),
    ("max_score=1.5", "max_score", "Enter a score from 0 to 1."),
    ("min_score=-0.1", "min_score", "Enter a score from 0 to 1."),
    ("min_score=nan", "min_score", "Enter a score from 0 to 1."),
    ("max_score=inf", "max_score", "Enter a score from 0 to 1."),
    ("min_score=0.8&max_score=0.2", "max_score", "The highest score (0.2) is below the lowest (0.8)."),
]


def test_bad_filter_values_are_refused_with_a_message(research_world, rex):
    client = client_for(rex)
    for query, field, message in REFUSED:
        page = client.get(f"/research/?{query}")
        assert page.status_code == 422 and page.context["rows"] == [], query
        assert page.context["form"].errors[field] == [message], query
        html = page.content.decode()
        assert message in html and 'id="research-refused"' in html and "download-jsonl" not in html, query
        for url in ("/research/export.jsonl", "/research/export.minari.zip"):
            refused = client.get(f"{url}?{query}")
            # A script asked for a file: the API's 422, the filter located in the query.
            assert refused.status_code == 422 and refused["Content-Type"] == "application/json", (url, query)
            assert [(item["loc"], item["msg"]) for item in refused.json()["detail"]] == [
                (["query", field], f"{field}: {message}")], (url, query)


def test_the_drill_down_shows_the_steps_outcome_and_score(research_world, rex):
    session = research_world.sessions["approved"]
    page = client_for(rex).get(f"/research/{research_world.codes['approved']}/?outcome=approved")
    assert page.status_code == 200
    steps = page.context["steps"]
    assert [s["index"] for s in steps] == [1, 2, 3]
    assert steps[0]["summary"] == f"query {SEVERE_PAIR[0]} + {SEVERE_PAIR[1]}" and steps[0]["result"].startswith("severe")
    assert steps[1]["summary"] == "substitute DRUG_AMITRIPTYLINE → DRUG_NORTRIPTYLINE"
    assert steps[2]["result"] == f"score {session.episode.grader_score:.3f}"
    html = page.content.decode()
    assert f"{session.episode.grader_score:.3f}" in html and "review finished" in html and "approved" in html
    assert 'href="/research/?outcome=approved"' in html  # back to the same filtered view
    assert re.findall(r'<tr data-index="(\d+)">', html) == ["1", "2", "3"]


def test_the_drill_down_names_no_person(research_world, rex):
    for name, code in research_world.codes.items():
        session = research_world.sessions[name]
        html = client_for(rex).get(f"/research/{code}/").content.decode()
        assert 'id="research-steps"' in html
        body = html.split('<main id="main"', 1)[1]  # the header names the viewer (rex), not the reviewer
        for secret in ("phil", "sue", session.episode.patient_id, session.episode.episode_id, RATIONALE,
                       "Sound.", "Query more pairs.", f"/reviews/{session.pk}/"):
            assert secret not in body, (name, secret)
        assert str(session.episode.created_at.year) not in body  # no time either
    assert PATIENT not in client_for(rex).get("/research/").content.decode()


def test_a_code_not_among_the_rows_is_a_404(research_world, rex, monkeypatch):
    client = client_for(rex)
    assert client.get("/research/0123456789ab/").status_code == 404
    assert client.get("/research/not-a-code/").status_code == 404
    # With k = 5 these three episodes are suppressed: no drill-down shows what the table holds back.
    monkeypatch.setattr("reviews.selectors.RESEARCH_K", 5)
    assert client.get(f"/research/{research_world.codes['approved']}/").status_code == 404
