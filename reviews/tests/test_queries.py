"""The list and review pages make a fixed number of queries, however many rows they show."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviews import services
from reviews.tests.conftest import SEVERE_PAIR, meta, shown
from testsupport.world import client_for

pytestmark = pytest.mark.django_db


def count_queries(client, url, **params) -> int:
    client.get(url, params)  # warm the per-process caches (catalog, patient rows)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, params).status_code == 200
    return len(ctx.captured_queries)


def start_sessions(user, n: int, *, first: int = 1):
    # Patients EP_0001… (easy_screening): a second start of one patient this soon would be taken
    # for a double submit and give the same session.
    return [
        services.review_start(meta=meta(user), patient_id=f"EP_{i:04d}", task_id="easy_screening", catalog_name="classic")
        for i in range(first, first + n)
    ]


def test_the_patient_list_costs_the_same_for_ten_or_all_patients(classic, phil):
    client = client_for(phil)
    few = count_queries(client, "/patients/", catalog="classic", min_drugs=9)
    many = count_queries(client, "/patients/", catalog="classic")
    assert few == many <= 4  # session, user, roles, catalog stamp


def test_the_session_list_costs_the_same_for_one_or_many_sessions(classic, phil, sue):
    start_sessions(phil, 1)
    one = count_queries(client_for(sue), "/reviews/")
    start_sessions(phil, 6, first=2)
    assert count_queries(client_for(sue), "/reviews/") == one <= 6


def test_the_review_page_costs_the_same_with_one_or_many_steps(session, phil):
    client = client_for(phil)
    client.post(f"/reviews/{session.pk}/query", shown(session, {"drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1]}))
    one = count_queries(client, f"/reviews/{session.pk}/")
    for pair in (("DRUG_IBUPROFEN", "DRUG_TRAMADOL"), ("DRUG_IBUPROFEN", "DRUG_AMITRIPTYLINE")):
        client.post(f"/reviews/{session.pk}/query", shown(session, {"drug_id_1": pair[0], "drug_id_2": pair[1]}))
    client.post(f"/reviews/{session.pk}/intervene", shown(session, {"target_drug_id": "DRUG_IBUPROFEN", "intervention_type": "add_monitoring"}))
    many = count_queries(client, f"/reviews/{session.pk}/")
    assert many == one <= 9  # 8, and the supervisors' comments on the steps


def test_the_supervisors_view_of_a_review_adds_only_its_audit_record(session, sue):
    client = client_for(sue)
    queries = count_queries(client, f"/reviews/{session.pk}/")
    assert queries <= 13  # the review page plus one audit append (lock head, insert, update head)
