"""/research/: finished reviews anonymised so that no row points at fewer than five patients.
Checked as the leak was found: each row shown to a researcher is matched against the baseline
risk that ``POST /reset {"patient_id": …}`` gives for every patient of its catalog and task."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.test import Client

from catalog.selectors import catalog_get
from polypharmacy_site.testing import streamed
from reviews.models import ReviewSession
from reviews.research_export import DATASET_ID
from reviews.selectors import RESEARCH_K, research_bin, research_code
from reviews.tests.conftest import shown
from testsupport.world import client_for

pytestmark = pytest.mark.django_db

# Classic easy_screening patients, by their baseline risk:
SHARED_BIN = ("EP_0006", "EP_0015", "EP_0018", "EP_0024", "EP_0026")  # five of the 13 in 0.3–0.4
FOUR_ONLY = ("EP_0001", "EP_0007", "EP_0009", "EP_0014")  # four of the 9 in 0.2–0.3
ALONE = ("EP_0019", "EP_0040")  # the only patients in 0.6–0.7 and 0.7–0.8
TWICE = "EP_0002"  # reviewed twice: two episodes, one patient
QUASI_IDENTIFIERS = ("catalog", "task_id", "baseline_risk", "final_risk", "grader_score")


def review_and_finish(client: Client, patient_id: str) -> ReviewSession:
    started = client.post("/reviews/start", {"catalog": "classic", "patient_id": patient_id, "task_id": "easy_screening"})
    assert started.status_code == 302, started.content
    pk = int(started["Location"].strip("/").split("/")[1])
    assert client.post(f"/reviews/{pk}/finish", shown(pk, {"confirmed": "1"})).status_code == 302
    return ReviewSession.objects.get(pk=pk)


def baseline_by_reset(patient_id: str) -> float:
    """What anyone can learn of a patient: its baseline risk, from the environment API."""
    body = {"patient_id": patient_id, "task_id": "easy_screening", "catalog": "classic"}
    response = Client().post("/reset", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["observation"]["baseline_risk"]


def in_bin(value: float, label: str) -> bool:
    low, high = (float(x) for x in label.split("–"))
    return low <= value < high or (high == 1.0 and value == 1.0)


@pytest.fixture
def finished_reviews(classic, phil) -> list[ReviewSession]:
    client = client_for(phil)
    sessions = [review_and_finish(client, p) for p in (*SHARED_BIN, *FOUR_ONLY, *ALONE, TWICE, TWICE)]
    return sessions


def test_no_row_points_at_fewer_than_five_patients(finished_reviews, rex):
    page = client_for(rex).get("/research/")
    assert page.status_code == 200
    rows, table = page.context["rows"], page.context["table"]
    # The attacker's side: every patient of the catalog and task, with the risk /reset gives.
    pool = [p.patient_id for p in catalog_get("classic").patients.values() if p.task_id == "easy_screening"]
    baselines = {patient_id: baseline_by_reset(patient_id) for patient_id in pool}
    assert rows, "the five patients sharing a bin are shown"
    assert set(rows[0]) == {"code", "catalog", "task_id", "steps", "baseline_risk", "final_risk", "grader_score", "sign_off"}
    for row in rows:
        candidates = [p for p, risk in baselines.items() if in_bin(risk, row["baseline_risk"])]
        assert len(candidates) >= RESEARCH_K, (row, candidates)
        alike = [r for r in rows if all(r[q] == row[q] for q in QUASI_IDENTIFIERS)]
        assert len(alike) >= RESEARCH_K, row
    html = page.content.decode()
    for patient_id, risk in baselines.items():
        assert patient_id not in html and f"{risk:.3f}" not in html and f"{risk:.2f}" not in html
    # Exactly the five-patient group is shown; the rest are counted, not shown.
    assert len(rows) == len(SHARED_BIN) and table.suppressed == len(FOUR_ONLY) + len(ALONE) + 2
    assert {r["baseline_risk"] for r in rows} == {"0.3–0.4"} and {r["final_risk"] for r in rows} == {"0.3–0.4"}
    assert {r["grader_score"] for r in rows} == {"0.0–0.2"} and {r["sign_off"] for r in rows} == {"pending"}
    assert "8 finished episodes" in html and "at least 5 different patients" in html


def test_the_same_data_is_nowhere_else_for_a_researcher(finished_reviews, rex):
    client = client_for(rex)
    session = finished_reviews[0]
    for url in (f"/reviews/{session.pk}/", f"/reviews/{session.pk}/audit", "/reviews/", "/audit/", "/patients/"):
        assert client.get(url).status_code == 403, url
    # Asking the page for JSON or CSV gets the same page: the downloads are their own URLs, of
    # the shown rows only (below).
    for accept in ("application/json", "text/csv"):
        response = client.get("/research/", HTTP_ACCEPT=accept)
        assert response["Content-Type"].startswith("text/html") and len(response.context["rows"]) == len(SHARED_BIN)


def test_the_drill_downs_and_downloads_hold_the_shown_rows_only(finished_reviews, rex):
    client = client_for(rex)
    shown_codes = sorted(r["code"] for r in client.get("/research/").context["rows"])
    everyone = {research_code(s.pk) for s in finished_reviews}
    lines = [json.loads(x) for x in streamed(client.get("/research/export.jsonl")).splitlines()]
    assert [line["code"] for line in lines] == shown_codes
    archive = zipfile.ZipFile(io.BytesIO(streamed(client.get("/research/export.minari.zip"))))
    assert json.loads(archive.read(f"{DATASET_ID}/data/metadata.json"))["total_episodes"] == len(SHARED_BIN)
    for code in everyone:
        assert client.get(f"/research/{code}/").status_code == (200 if code in shown_codes else 404)


@pytest.mark.parametrize(("value", "width", "label"), [
    (0.0, 0.1, "0.0–0.1"), (0.29, 0.1, "0.2–0.3"), (0.3, 0.1, "0.3–0.4"), (0.38999999999999996, 0.1, "0.3–0.4"),
    (1.0, 0.1, "0.9–1.0"), (0.999, 0.2, "0.8–1.0"), (0.001, 0.2, "0.0–0.2"), (1.7, 0.1, "0.9–1.0"), (-0.2, 0.2, "0.0–0.2"),
    (None, 0.1, "—"),
])
def test_values_fall_in_their_bins(value, width, label):
    assert research_bin(value, width) == label
