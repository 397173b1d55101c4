"""POST /step: one action on the caller's episode, recorded as one Step row."""

from __future__ import annotations

import pytest

from catalog.selectors import catalog_get
from episodes.models import Episode, Step
from episodes.tests.conftest import FINISH, FOREIGN_QUERY, regimen, started, step

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogs")]


def test_it_answers_exactly_observation_reward_and_done(client) -> None:
    drugs = regimen(started(client, task_id="easy_screening", seed=0))

    body = step(client, {"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": drugs[1]}).json()

    assert set(body) == {"observation", "reward", "done"}
    assert isinstance(body["reward"], float)
    assert body["done"] is False
    assert body["observation"]["step_index"] == 1
    assert body["observation"]["last_action_error"] is None
    assert len(body["observation"]["interaction_queries"]) == 1


def test_it_records_each_step_with_its_index_action_and_reward(client) -> None:
    drugs = regimen(started(client, task_id="easy_screening", seed=0))
    query = {"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": drugs[1]}

    first = step(client, query).json()
    second = step(client, FINISH).json()

    episode = Episode.objects.get()
    rows = list(episode.steps.order_by("index"))
    assert [(row.index, row.action, row.done) for row in rows] == [(1, query, False), (2, FINISH, True)]
    assert [row.reward for row in rows] == [first["reward"], second["reward"]]
    assert rows[0].actor_label == "anonymous"
    assert (episode.step_count, episode.status) == (2, "terminated")
    assert episode.grader_score == second["observation"]["grader_score"]


def test_a_cookie_keeping_client_steps_its_latest_open_episode(client) -> None:
    started(client, task_id="easy_screening")
    latest = started(client, task_id="complex_tradeoff")["episode_id"]

    body = step(client, FOREIGN_QUERY).json()

    assert body["observation"]["episode_id"] == latest
    assert Step.objects.get().episode.episode_id == latest


def test_a_client_without_cookies_is_told_to_pass_the_episode_id(client) -> None:
    episode_id = started(client)["episode_id"]
    client.cookies.clear()

    response = step(client, FINISH)

    assert response.status_code == 404
    assert "episode_id" in response.json()["detail"]
    assert step(client, FINISH, episode_id=episode_id).status_code == 200


def test_it_steps_the_named_episode_rather_than_the_latest(client) -> None:
    first = started(client, task_id="easy_screening")["episode_id"]
    started(client, task_id="easy_screening")

    body = step(client, FINISH, episode_id=first).json()

    assert body["observation"]["episode_id"] == first
    assert Episode.objects.get(episode_id=first).status == "terminated"


def test_it_accepts_openenv_step_options(client) -> None:
    started(client)

    response = step(client, FINISH, timeout_s=5.0, request_id="req-1")

    assert response.status_code == 200


def test_it_accepts_a_flat_action_with_unused_fields_null(client) -> None:
    started(client)
    flat = {"action_type": "finish_review", "drug_id_1": None, "drug_id_2": None, "target_drug_id": None,
            "intervention_type": "none", "proposed_new_drug_id": None, "rationale": None, "metadata": {}}

    assert step(client, flat).json()["done"] is True


def test_the_step_limit_truncates_the_episode(client) -> None:
    started(client, task_id="easy_screening")  # 10 steps at most

    answers = [step(client, FOREIGN_QUERY).json() for _ in range(10)]

    assert [a["done"] for a in answers] == [False] * 9 + [True]
    assert answers[-1]["observation"]["truncated"] is True
    assert Episode.objects.get().status == "truncated"
    assert Step.objects.count() == 10


# ── refusals are steps, not HTTP errors ─────────────────────────────────────
def assert_refused_step(response, *, mentions: str) -> None:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reward"] == pytest.approx(0.001)
    assert body["done"] is False
    assert mentions in body["observation"]["last_action_error"]


def test_a_drug_outside_the_regimen_is_a_penalised_step(client) -> None:
    started(client, task_id="easy_screening")

    assert_refused_step(step(client, FOREIGN_QUERY), mentions="not in the current regimen")
    row = Step.objects.get()
    assert row.index == 1 and row.reward == pytest.approx(0.001)
    assert "not in the current regimen" in row.observation["last_action_error"]


def test_a_query_past_the_budget_is_a_penalised_step(client) -> None:
    drugs = regimen(started(client, task_id="easy_screening", seed=0))  # 4 queries
    query = {"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": drugs[1]}
    for _ in range(4):
        assert step(client, query).json()["observation"]["last_action_error"] is None

    assert_refused_step(step(client, query), mentions="budget exhausted")
    assert Step.objects.count() == 5


def test_a_substitute_of_another_class_is_a_penalised_step(client) -> None:
    observation = started(client, task_id="easy_screening", seed=0)
    target = observation["current_medications"][0]
    drugs = catalog_get(observation["catalog"]).drugs
    other = next(d for d in drugs.values() if d.atc_class != target["atc_class"] and d.drug_id not in regimen(observation))
    action = {"action_type": "propose_intervention", "target_drug_id": target["drug_id"],
              "intervention_type": "substitute", "proposed_new_drug_id": other.drug_id}

    response = step(client, action)

    assert_refused_step(response, mentions=other.drug_id)
    assert response.json()["observation"]["remaining_intervention_budget"] == observation["remaining_intervention_budget"]
    assert Step.objects.get().action == action
