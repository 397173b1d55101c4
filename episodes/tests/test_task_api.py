"""OpenEnv 0.10's Task API (/polypharmacy_env/splits, /tasks, /num_tasks, /task, /task_range) and
reset(split=..., index=...), which starts the task it names."""

from __future__ import annotations

import pytest

from episodes.models import Episode
from episodes.tests.conftest import database_rows, post, reset, started

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogs")]


def test_the_splits_are_train_test_and_the_catalogs_patients_with_their_sizes(client) -> None:
    response = client.get("/polypharmacy_env/splits")

    assert response.status_code == 200
    sizes = {split["name"]: (split["type"], split["num_tasks"]) for split in response.json()}
    assert sizes == {"train": ("train", 30000), "test": ("test", 3000), "patients": ("train", 450)}
    assert client.get("/list_environments").json() == ["polypharmacy_env"]


def test_a_test_task_is_a_held_out_seed_of_a_task_and_num_tasks_agrees(client) -> None:
    task = post(client, "/polypharmacy_env/task", {"split": "test", "index": 4}).json()["task"]

    assert task["reset"] == {"task_id": "budgeted_screening", "seed": 10001}
    assert task["id"] == "test-4" and task["catalog"] == "curated"
    assert post(client, "/polypharmacy_env/num_tasks", {"split": "test"}).json() == {"num_tasks": 3000}


def test_reset_with_a_split_and_index_starts_exactly_that_task(client) -> None:
    task = post(client, "/polypharmacy_env/task", {"split": "patients", "index": 7}).json()["task"]

    observation = started(client, split="patients", index=7)

    assert (observation["task_id"], observation["patient_id"]) == (task["reset"]["task_id"], task["reset"]["patient_id"])
    again = started(client, split="train", index=5)  # task 5 % 3, seed 5 // 3
    named = started(client, task_id="complex_tradeoff", seed=1)
    assert again["patient_id"] == named["patient_id"] and again["task_id"] == "complex_tradeoff"


def test_task_range_pages_like_a_python_slice_and_tasks_previews_a_long_split(client) -> None:
    tasks = post(client, "/polypharmacy_env/task_range", {"split": "train", "start": 3, "stop": 6}).json()["tasks"]
    listed = post(client, "/polypharmacy_env/tasks", {"split": "train"}).json()

    assert [t["index"] for t in tasks] == [3, 4, 5]
    assert len(listed["tasks"]) == 1000 and listed["env_name"] == "polypharmacy_env"


@pytest.mark.parametrize(("path", "body", "status", "field"), [
    ("/polypharmacy_env/task", {"split": "holdout", "index": 0}, 422, "split"),
    ("/polypharmacy_env/task", {"split": "test"}, 422, "index"),
    ("/polypharmacy_env/task", {"split": "test", "index": "1"}, 422, "index"),
    ("/polypharmacy_env/num_tasks", {"split": "train", "extra": 1}, 422, "extra"),
    ("/polypharmacy_env/task_range", {"split": "train", "start": 0, "stop": 5000}, 422, "stop"),
])
def test_malformed_task_requests_are_422s_naming_the_field(client, path, body, status, field) -> None:
    response = post(client, path, body)

    assert response.status_code == status, response.content
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_an_index_outside_the_split_is_openenvs_400(client) -> None:
    response = post(client, "/polypharmacy_env/task", {"split": "patients", "index": 450})

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid task index")


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"split": "test"}, "split", "must come with index"),
    ({"index": 3}, "split", "is required with index"),
    ({"split": "train", "index": 0, "seed": 4}, "split", "must not come with seed"),
    ({"split": "patients", "index": 450}, "index", "outside split"),
    ({"split": "validation", "index": 0}, "split", "Input should be"),
])
def test_a_reset_whose_split_and_index_do_not_name_one_task_is_refused_and_stores_nothing(client, body, field,
                                                                                          words) -> None:
    before = database_rows()

    response = reset(client, **body)

    assert response.status_code == 422, response.content
    item = response.json()["detail"][0]
    assert item["loc"] == ["body", field] and words in item["msg"]
    assert database_rows() == before and not Episode.objects.exists()
