"""/bandit/predict, /bandit/screen, /bandit/metrics: the newest (or a named) trained model, 409
without one, 422 naming bad combinations and unknown drug ids, 413 over 10,000 combinations,
and nothing written whatever the input."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token

from bandits.selectors import bandit_scorer
from jobs.models import Checkpoint, Job
from jobs.selectors import checkpoint_file

PAIR = ["DRUG_WARFARIN", "DRUG_ASPIRIN"]
SEVERE = ["DRUG_TRAMADOL", "DRUG_AMITRIPTYLINE"]


def post(client: Client, url: str, body: Any, **extra: Any) -> Any:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(url, raw, content_type="application/json", **extra)


@pytest.fixture
def tiny_model(db: None, artifacts: Path, trained: tuple[bytes, dict]) -> Checkpoint:
    """That model registered as the checkpoint "tiny", its file the test's own copy."""
    (artifacts / "job-1").mkdir()
    (artifacts / "job-1" / "bandit.pt").write_bytes(trained[0])
    return Checkpoint.objects.create(name="tiny", kind=Checkpoint.Kind.BANDIT, path="job-1/bandit.pt",
                                     catalog="classic", metrics=trained[1])


@pytest.fixture
def api() -> Client:
    return Client()


@pytest.fixture
def other_model(tiny_model: Checkpoint) -> Checkpoint:
    """A second, newer model row (same file): the newest is now "other"."""
    return Checkpoint.objects.create(name="other", kind=Checkpoint.Kind.BANDIT, path=tiny_model.path,
                                     catalog="classic", metrics=tiny_model.metrics)


def test_without_a_model_every_endpoint_says_409_and_how_to_train_one(db: None, api: Client) -> None:
    answers = [post(api, "/bandit/predict", {"combination": PAIR}),
               post(api, "/bandit/screen", {"combinations": [PAIR]}),
               api.get("/bandit/metrics")]
    for response in answers:
        assert response.status_code == 409
        assert "No trained bandit model yet" in response.json()["detail"] and "bandit_train" in response.json()["detail"]


def test_a_malformed_body_is_a_422_even_without_a_model(db: None, api: Client) -> None:
    response = post(api, "/bandit/screen", {"combinations": "all of them"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "combinations"]


def test_predict_scores_one_combination_with_the_newest_model(tiny_model: Checkpoint, api: Client) -> None:
    response = post(api, "/bandit/predict", {"combination": PAIR})

    assert response.status_code == 200
    body = response.json()
    assert body["model"]["name"] == "tiny" and body["model"]["catalog"] == "classic"
    assert body["combination"] == sorted(PAIR)
    assert body["drugs"] == [{"drug_id": "DRUG_ASPIRIN", "name": "aspirin"}, {"drug_id": "DRUG_WARFARIN", "name": "warfarin"}]
    assert body["lower_bound"] == pytest.approx(body["predicted_rr"] - 3 * body["sigma"], abs=1e-5)
    assert body["flagged"] == (body["lower_bound"] > 1.1) and body["threshold"] == 1.1 and body["z"] == 3.0


def test_predict_and_screen_agree_on_a_combination(tiny_model: Checkpoint, api: Client) -> None:
    one = post(api, "/bandit/predict", {"combination": SEVERE}).json()
    many = post(api, "/bandit/screen", {"combinations": [PAIR, SEVERE]}).json()
    assert many["results"][1]["predicted_rr"] == one["predicted_rr"] and many["results"][1]["sigma"] == one["sigma"]


def test_a_named_model_is_used_from_the_body_or_the_query(other_model: Checkpoint, api: Client) -> None:
    assert post(api, "/bandit/predict", {"combination": PAIR}).json()["model"]["name"] == "other"
    assert post(api, "/bandit/predict", {"combination": PAIR, "model": "tiny"}).json()["model"]["name"] == "tiny"
    assert post(api, "/bandit/screen?model=tiny", {"combinations": [PAIR]}).json()["model"]["name"] == "tiny"
    assert api.get("/bandit/metrics?model=tiny").json()["model"]["name"] == "tiny"


def test_an_unknown_model_name_is_a_404_listing_the_known_ones(tiny_model: Checkpoint, api: Client) -> None:
    response = post(api, "/bandit/predict", {"combination": PAIR, "model": "nope"})
    assert response.status_code == 404 and response.json()["detail"] == "No bandit model named 'nope'. Known models: tiny."
    assert api.get("/bandit/metrics?model=nope").status_code == 404


def test_a_model_whose_file_is_gone_is_a_409(tiny_model: Checkpoint, api: Client) -> None:
    checkpoint_file(tiny_model).unlink()
    response = post(api, "/bandit/predict", {"combination": PAIR})
    assert response.status_code == 409 and "is missing" in response.json()["detail"]


def test_a_model_row_pointing_outside_the_artefact_folder_loads_nothing(tiny_model: Checkpoint, api: Client) -> None:
    # Only a worker writes the path, but a row edited in the database must not make a model load
    # a way to open any file on the machine.
    Checkpoint.objects.filter(pk=tiny_model.pk).update(path="../../../../../../etc/passwd")
    response = post(api, "/bandit/predict", {"combination": PAIR})
    assert response.status_code == 409 and "outside the artefact folder" in response.json()["detail"]


def test_screen_scores_combinations_in_request_order(tiny_model: Checkpoint, api: Client) -> None:
    combos = [PAIR, SEVERE, ["DRUG_AMLODIPINE"], SEVERE + ["DRUG_OMEPRAZOLE"]]
    body = post(api, "/bandit/screen", {"combinations": combos}).json()

    assert body["n"] == 4 and [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert body["n_flagged"] == sum(r["flagged"] for r in body["results"])
    for r in body["results"]:
        assert r["lower_bound"] == pytest.approx(r["predicted_rr"] - 3 * r["sigma"], abs=1e-5)
        assert r["flagged"] == (r["lower_bound"] > 1.1)


def test_only_flagged_lists_the_flagged_ones_with_their_drugs_best_first(tiny_model: Checkpoint, api: Client) -> None:
    from bandits.screening import load_scorer

    scorer = load_scorer(checkpoint_file(tiny_model))
    X = scorer.dataset_X()
    combos = [scorer.drugs_of(row) for row in X]
    everything = post(api, "/bandit/screen", {"combinations": combos}).json()["results"]
    flagged = post(api, "/bandit/screen", {"combinations": combos, "only_flagged": True}).json()["results"]

    expected = sorted((r["index"] for r in everything if r["flagged"]), key=lambda i: -everything[i]["lower_bound"])
    assert expected and [r["index"] for r in flagged] == expected
    assert all(r["drugs"] == combos[r["index"]] and r["flagged"] for r in flagged)


def test_screen_answers_10000_combinations(tiny_model: Checkpoint, api: Client) -> None:
    from bandits.screening import load_scorer

    scorer = load_scorer(checkpoint_file(tiny_model))
    X = scorer.dataset_X()
    combos = [scorer.drugs_of(X[i % len(X)]) for i in range(10_000)]
    post(api, "/bandit/screen", {"combinations": combos[:1]})  # load the model once
    start = time.perf_counter()
    response = post(api, "/bandit/screen", {"combinations": combos})
    elapsed = time.perf_counter() - start
    assert response.status_code == 200 and response.json()["n"] == 10_000
    assert elapsed < 5.0  # a loose bound for a shared machine; bench/bandit_screen.py measures it


def test_a_gzip_body_is_inflated_so_long_combinations_fit_under_1_mb(tiny_model: Checkpoint, api: Client) -> None:
    raw = gzip.compress(json.dumps({"combinations": [PAIR] * 500}).encode())
    response = api.post("/bandit/screen", raw, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200 and response.json()["n"] == 500
    bad = api.post("/bandit/screen", b"not gzip", content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert bad.status_code == 422 and "Malformed gzip body" in bad.json()["detail"][0]["msg"]


def test_unknown_drug_ids_are_a_422_naming_them_and_their_combination(tiny_model: Checkpoint, api: Client) -> None:
    combos = [PAIR, ["DRUG_WARFARIN", "DRUG_KRYPTONITE"], PAIR, ["DRUG_NOPE", "DRUG_NADA", "DRUG_NOPE"]]
    response = post(api, "/bandit/screen", {"combinations": combos})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [d["loc"] for d in detail] == [["body", "combinations", 1], ["body", "combinations", 3]]
    assert detail[0]["unknown_drug_ids"] == ["DRUG_KRYPTONITE"] and "DRUG_KRYPTONITE" in detail[0]["msg"]
    assert detail[1]["unknown_drug_ids"] == ["DRUG_NOPE", "DRUG_NADA"] and detail[1]["input"] == combos[3]
    assert detail[0]["type"] == "unknown_drug" and "34 drugs of catalog 'classic'" in detail[0]["msg"]

    one = post(api, "/bandit/predict", {"combination": ["DRUG_WARFARIN", "DRUG_KRYPTONITE"]})
    assert one.status_code == 422 and one.json()["detail"][0]["loc"] == ["body", "combination"]
    assert "DRUG_KRYPTONITE" in one.json()["detail"][0]["msg"]


def test_more_than_10000_combinations_is_a_413_saying_the_limit(tiny_model: Checkpoint, api: Client) -> None:
    response = post(api, "/bandit/screen", {"combinations": [["DRUG_WARFARIN"]] * 10_001})
    assert response.status_code == 413
    assert "At most 10,000 combinations per request, got 10,001" in response.json()["detail"]


def test_too_many_drug_ids_in_all_is_a_413_saying_the_limit(tiny_model: Checkpoint, api: Client) -> None:
    forty = (bandit_scorer(tiny_model).drug_ids * 40)[:40]
    raw = gzip.compress(json.dumps({"combinations": [forty] * 2_501}).encode())  # 100,040 ids, over 1 MB plain
    response = api.post("/bandit/screen", raw, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert "At most 100,000 drug ids in all per request, got 100,040" in response.json()["detail"]


def test_a_combination_of_too_many_drugs_is_a_422_at_its_index(tiny_model: Checkpoint, api: Client) -> None:
    many = (bandit_scorer(tiny_model).drug_ids * 41)[:41]
    response = post(api, "/bandit/screen", {"combinations": [PAIR, many]})
    assert response.status_code == 422
    item = response.json()["detail"][0]
    assert item["loc"] == ["body", "combinations", 1] and item["type"] == "too_long" and "40" in item["msg"]


def test_a_combination_given_several_times_gets_the_same_score_each_time(tiny_model: Checkpoint,
                                                                        api: Client) -> None:
    other = ["DRUG_TRAMADOL", "DRUG_AMITRIPTYLINE"]
    both = post(api, "/bandit/screen", {"combinations": [PAIR, other, PAIR, list(reversed(PAIR)), other]}).json()
    alone = [post(api, "/bandit/screen", {"combinations": [c]}).json()["results"][0] for c in (PAIR, other)]
    strip = [{k: v for k, v in r.items() if k != "index"} for r in both["results"]]
    expected = [{k: v for k, v in alone[i].items() if k != "index"} for i in (0, 1, 0, 0, 1)]
    assert strip == expected and [r["index"] for r in both["results"]] == [0, 1, 2, 3, 4]


BAD_SCREENS = [  # the item types are pydantic's (the contract's validation errors)
    ("{not json", ["body"], "json_invalid"),
    ("[1, 2]", ["body"], "dict_type"),
    ({}, ["body", "combinations"], "missing"),
    ({"combinations": []}, ["body", "combinations"], "too_short"),
    ({"combinations": "DRUG_WARFARIN"}, ["body", "combinations"], "list_type"),
    ({"combinations": [[]]}, ["body", "combinations", 0], "too_short"),
    ({"combinations": [PAIR, "DRUG_WARFARIN"]}, ["body", "combinations", 1], "list_type"),
    ({"combinations": [[1, 2]]}, ["body", "combinations", 0, 0], "string_type"),
    ({"combinations": [PAIR], "extra": 1}, ["body", "extra"], "extra_forbidden"),
    ({"combinations": [PAIR], "model": 5}, ["body", "model"], "string_type"),
    ({"combinations": [PAIR], "only_flagged": "yes"}, ["body", "only_flagged"], "bool_type"),
]


@pytest.mark.parametrize(("body", "loc", "kind"), BAD_SCREENS)
def test_a_malformed_screen_request_is_a_422_naming_the_field(tiny_model: Checkpoint, api: Client, body: Any,
                                                              loc: list, kind: str) -> None:
    response = post(api, "/bandit/screen", body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc and response.json()["detail"][0]["type"] == kind


@pytest.mark.parametrize("body", [{}, {"combination": []}, {"combination": "DRUG_WARFARIN"}, {"combination": [PAIR]},
                                  {"combination": PAIR, "combinations": [PAIR]}])
def test_a_malformed_predict_request_is_a_422(tiny_model: Checkpoint, api: Client, body: Any) -> None:
    assert post(api, "/bandit/predict", body).status_code == 422


def test_bad_input_changes_nothing_in_the_database_or_the_model(tiny_model: Checkpoint, api: Client) -> None:
    path: Path = checkpoint_file(tiny_model)
    before = (Job.objects.count(), list(Checkpoint.objects.values_list("id", "name", "metrics")), path.read_bytes())
    for body, _, _ in BAD_SCREENS:
        post(api, "/bandit/screen", body)
    post(api, "/bandit/screen", {"combinations": [["DRUG_KRYPTONITE"]]})
    post(api, "/bandit/screen", {"combinations": [PAIR] * 10_001})
    post(api, "/bandit/predict", {"combination": ["DRUG_KRYPTONITE"]})
    post(api, "/bandit/predict", {"combination": PAIR, "model": "nope"})
    after = (Job.objects.count(), list(Checkpoint.objects.values_list("id", "name", "metrics")), path.read_bytes())
    assert after == before


def test_metrics_give_the_models_training_metrics_settings_and_steps(tiny_model: Checkpoint, api: Client) -> None:
    body = api.get("/bandit/metrics").json()

    assert body["model"] == {"name": "tiny", "id": tiny_model.pk, "job_id": tiny_model.job_id, "catalog": "classic",
                             "dataset": "catalog", "created_at": tiny_model.created_at.isoformat()}
    assert {"precision", "recall", "pattern_share", "n_flagged"} <= set(body["metrics"])
    assert body["steps"] == 1200 and body["settings"]["warmup"] == 500 and body["settings"]["flag_z"] == 3.0
    assert body["dataset"]["kind"] == "catalog" and body["dataset"]["n_combinations"] == 3000
    assert [h["step"] for h in body["history"]] == list(range(500, 1201, 100))
    assert body["metrics"]["n_flagged"] > 0 and body["metrics"]["precision"] == 1.0
    assert "sequential_random" in body["baselines"]


def test_with_auth_required_an_anonymous_caller_gets_401_and_a_token_holder_gets_an_answer(
        tiny_model: Checkpoint, api: Client, settings: Any, rex: User) -> None:
    settings.POLYPHARMACY_API_AUTH = "required"
    assert post(api, "/bandit/predict", {"combination": PAIR}).status_code == 401
    assert api.get("/bandit/metrics").status_code == 401
    token = Token.objects.create(user=rex)
    response = post(api, "/bandit/predict", {"combination": PAIR}, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
