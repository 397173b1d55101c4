"""The jobs REST API: create, list, detail, cancel, checkpoints; who may; bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from jobs import services
from jobs.models import Job
from jobs.tests.conftest import TINY_TRAIN
from testsupport.world import client_for

pytestmark = pytest.mark.django_db


def post(client: Client, url: str, body: object, **headers: Any):
    return client.post(url, data=json.dumps(body) if not isinstance(body, (str, bytes)) else body,
                       content_type="application/json", **headers)


def test_it_creates_a_job_with_its_defaults(classic, rex):
    resp = post(client_for(rex), "/api/jobs", {"kind": "evaluate", "params": {"catalog": "classic", "episodes": 5}})
    assert resp.status_code == 201
    body = resp.json()
    assert body["kind"] == "evaluate" and body["status"] == "queued" and body["owner"] == "rex"
    assert body["params"] == {"agent": "heuristic", "task_id": "easy_screening", "catalog": "classic",
                              "seed_start": 10000, "episodes": 5}
    assert Job.objects.get(pk=body["id"]).owner == rex


def test_it_accepts_a_token(classic, rex):
    token = Token.objects.create(user=rex)
    resp = post(Client(), "/api/jobs", {"kind": "evaluate", "params": {"catalog": "classic"}},
                HTTP_AUTHORIZATION=f"Token {token.key}")
    assert resp.status_code == 201


@pytest.mark.parametrize("body, loc, words", [
    ({"kind": "train_policy", "params": {"total_steps": -5}}, ["body", "params", "total_steps"], "1024"),
    ({"kind": "train_policy", "params": {"task_id": "hard"}}, ["body", "params", "task_id"], "not a valid choice"),
    ({"kind": "train_policy", "params": {"lr": "fast"}}, ["body", "params", "lr"], "valid number"),
    ({"kind": "train_policy", "params": "steps=5"}, ["body", "params"], "JSON object"),
    ({"kind": "evaluate", "params": {"agent": "policy:nope"}}, ["body", "params", "agent"], "No policy checkpoint"),
    ({"kind": "evaluate", "params": {"agent": "heur\x00istic"}}, ["body", "params", "agent"], "NUL"),
    ({"kind": "mine_bitcoin"}, ["body", "kind"], "Unknown job kind"),
    ({"kind": "evaluate", "priority": 9}, ["body", "priority"], "is not a known field"),
    ("{not json", ["body"], "Malformed JSON"),
])
def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(classic, rex, body, loc, words):
    resp = post(client_for(rex), "/api/jobs", body)
    assert resp.status_code == 422, resp.content
    detail = resp.json()["detail"][0]
    assert detail["loc"] == loc and words in detail["msg"]
    assert Job.objects.count() == 0


def test_anonymous_callers_get_401_and_other_roles_403(classic, phil):
    assert post(Client(), "/api/jobs", {"kind": "evaluate"}).status_code == 401
    assert Client().get("/api/jobs").status_code == 401
    resp = post(client_for(phil), "/api/jobs", {"kind": "evaluate"})
    assert resp.status_code == 403 and "researchers" in resp.json()["detail"]
    assert Job.objects.count() == 0


def test_list_detail_and_checkpoints_after_a_training_job(classic, rex):
    job = services.job_create(kind="train_policy", params={**TINY_TRAIN, "checkpoint_name": "api-tiny"}, owner=rex)
    services.job_execute(job_id=job.pk)
    client = client_for(rex)
    listed = client.get("/api/jobs?kind=train_policy").json()
    assert [j["id"] for j in listed] == [job.pk] and "log" not in listed[0]
    detail = client.get(f"/api/jobs/{job.pk}").json()
    assert detail["status"] == "succeeded" and detail["progress"] == 100 and detail["series"]
    assert detail["result"]["checkpoint"] == "api-tiny"
    cks = client.get("/api/checkpoints?kind=policy").json()
    assert [c["name"] for c in cks] == ["api-tiny"] and cks[0]["job"] == job.pk
    assert client.get("/api/jobs/999999").status_code == 404


def test_cancel_over_the_api(classic, rex, sue, phil):
    job = services.job_create(kind="evaluate", params={"catalog": "classic"}, owner=rex)
    assert post(client_for(phil), f"/api/jobs/{job.pk}/cancel", {}).status_code == 403
    resp = post(client_for(sue), f"/api/jobs/{job.pk}/cancel", {})  # a supervisor may cancel anyone's
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    again = post(client_for(rex), f"/api/jobs/{job.pk}/cancel", {})
    assert again.status_code == 409 and "only a queued or running job" in again.json()["detail"]


def test_a_pairwise_training_job_saves_a_checkpoint_that_plays_on_the_wire(classic, rex):
    bad = post(client_for(rex), "/api/jobs", {"kind": "train_policy", "params": {**TINY_TRAIN, "arch": "transformer"}})
    assert bad.status_code == 422 and "arch" in bad.content.decode()
    job = services.job_create(kind="train_policy", params={**TINY_TRAIN, "arch": "pairwise", "checkpoint_name": "pw"},
                              owner=rex)
    services.job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.log
    detail = client_for(rex).get(f"/api/jobs/{job.pk}").json()
    assert detail["params"]["arch"] == "pairwise" and detail["result"]["checkpoint"] == "pw"
    evaluation = services.job_create(kind="evaluate", params={"agent": "policy:pw", "catalog": "classic", "episodes": 3},
                                     owner=rex)
    services.job_execute(job_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "succeeded", evaluation.log
