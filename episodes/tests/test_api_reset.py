"""POST /reset: starts an episode (or resumes the caller's open one) and answers OpenEnv's body."""

from __future__ import annotations

import pytest

from episodes.models import Episode
from episodes.tests.conftest import ANON_COOKIE, post, reset, started, step

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogs")]


def test_an_empty_body_starts_an_episode_of_the_default_task(client) -> None:
    response = post(client, "/reset", raw=b"")

    assert response.status_code == 200
    observation = response.json()["observation"]
    assert observation["task_id"] == "budgeted_screening"
    assert observation["catalog"] == "curated"
    assert Episode.objects.get().episode_id == observation["episode_id"]


def test_it_answers_exactly_observation_reward_and_done_with_a_null_reward(client) -> None:
    body = reset(client, task_id="easy_screening", seed=0).json()

    assert set(body) == {"observation", "reward", "done"}
    assert body["reward"] is None
    assert body["done"] is False
    assert body["observation"]["step_index"] == 0


def test_the_same_seed_picks_the_same_patient(client) -> None:
    first = started(client, task_id="complex_tradeoff", seed=7)
    second = started(client, task_id="complex_tradeoff", seed=7)

    assert first["patient_id"] == second["patient_id"]
    assert first["episode_id"] != second["episode_id"]


def test_it_starts_the_named_patient_on_the_named_catalog(client) -> None:
    patient = started(client, catalog="classic", task_id="easy_screening", seed=0)["patient_id"]

    observation = started(client, catalog="classic", patient_id=patient)

    assert (observation["patient_id"], observation["task_id"], observation["catalog"]) == (patient, "easy_screening", "classic")


def test_it_stores_the_episode_with_the_caller_and_a_snapshot(client) -> None:
    observation = started(client, task_id="easy_screening", seed=3, durability="fast")

    episode = Episode.objects.get(episode_id=observation["episode_id"])
    assert (episode.task_id, episode.patient_id, episode.status, episode.step_count) == (
        "easy_screening", observation["patient_id"], "open", 0)
    assert episode.durability == "fast"
    assert episode.owner is None and episode.anon_key == client.cookies[ANON_COOKIE].value
    assert episode.snapshot


def test_it_sets_an_anonymous_cookie_only_once(client) -> None:
    first = reset(client)
    second = reset(client)

    assert ANON_COOKIE in first.cookies
    assert ANON_COOKIE not in second.cookies
    assert Episode.objects.values_list("anon_key", flat=True).distinct().count() == 1


def test_it_uses_a_new_episode_id_the_caller_chose(client) -> None:
    observation = started(client, episode_id="my-run-1", task_id="easy_screening")

    assert observation["episode_id"] == "my-run-1"
    assert Episode.objects.filter(episode_id="my-run-1").exists()


def test_a_reset_with_an_open_episode_id_resumes_it(client) -> None:
    episode_id = started(client, task_id="easy_screening", seed=1)["episode_id"]
    step(client, {"action_type": "query_ddi", "drug_id_1": "DRUG_NOT_THERE", "drug_id_2": "DRUG_NOR_THIS"})

    body = reset(client, episode_id=episode_id).json()

    assert body["observation"]["episode_id"] == episode_id
    assert body["observation"]["step_index"] == 1
    assert body["reward"] is None
    assert Episode.objects.count() == 1


def test_a_reset_with_a_finished_episode_id_is_refused(client) -> None:
    episode_id = started(client, task_id="easy_screening")["episode_id"]
    step(client, {"action_type": "finish_review"})

    response = reset(client, episode_id=episode_id)

    assert response.status_code == 409
    assert "finished" in response.json()["detail"]
    assert Episode.objects.count() == 1
