"""The committed recorded-reviews fixture (fixtures/reviews/, rebuilt by bench/record_reviews.py):
it becomes demonstrations for every catalog and task, and says that its reviewer is scripted.
Pure Python: no database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.learning.imitation import export_demonstrations
from envcore.catalog import CATALOG_NAMES, TASK_IDS, Catalog

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "reviews"
REBUILD = "rebuild it with .venv/bin/python bench/record_reviews.py"


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    lines = (FIXTURE / "recorded_reviews.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("catalog", CATALOG_NAMES)
@pytest.mark.parametrize("task", TASK_IDS)
def test_every_recorded_review_becomes_demonstrations(records: list[dict[str, Any]], catalog: str, task: str):
    ours = [r for r in records if r["catalog"] == catalog and r["task_id"] == task]
    demos = export_demonstrations(records, Catalog.load(catalog), "recorded reviews", task_id=task)
    assert demos.episodes == len(ours) > 0
    assert demos.skipped == 0
    assert len(demos) == sum(len(r["steps"]) for r in ours)


def test_the_recorded_reviews_are_finished_and_of_distinct_patients(records: list[dict[str, Any]]):
    assert {r["status"] for r in records} <= {"terminated", "truncated"}
    keys = [(r["catalog"], r["task_id"], r["patient_id"]) for r in records]
    assert len(keys) == len(set(keys))


def test_the_recorded_reviews_match_the_catalogs_they_were_recorded_on(records: list[dict[str, Any]]):
    fingerprints = {name: Catalog.load(name).fingerprint for name in CATALOG_NAMES}
    stale = sorted({r["catalog"] for r in records if r["catalog_fingerprint"] != fingerprints[r["catalog"]]})
    assert not stale, f"the {', '.join(stale)} catalog changed since the reviews were recorded: {REBUILD}"


def test_the_fixture_says_its_reviewer_is_scripted():
    readme = (FIXTURE / "README.md").read_text(encoding="utf-8")
    assert "scripted" in readme.lower() and "heuristic_policy" in readme
    assert "scripted" in (Path(__file__).resolve().parents[2] / "bench" / "record_reviews.py").read_text().lower()
