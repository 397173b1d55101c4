"""GET /render: the latest observation as the text the LLM suggester reads (issue 16, point 6),
beside reset and step, whose answers stay exactly OpenEnv's {observation, reward, done}."""

from __future__ import annotations

import pytest

from catalog.selectors import catalog_get
from envcore.render import render_observation
from episodes.tests.conftest import FINISH, regimen, started, step

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogs")]


def test_render_is_the_suggesters_rendering_of_the_callers_latest_observation(client) -> None:
    observation = started(client, task_id="easy_screening", catalog="classic", seed=0)
    drugs = regimen(observation)
    after = step(client, {"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": drugs[1]}).json()

    response = client.get("/render")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"episode_id", "step_index", "done", "text"}
    assert (body["episode_id"], body["step_index"], body["done"]) == (observation["episode_id"], 1, False)
    assert body["text"] == render_observation(after["observation"], catalog=catalog_get("classic"))
    assert '"interaction_queries": [{' in body["text"] and "Substitute candidates" in body["text"]


def test_render_of_a_named_episode_needs_no_cookie_and_follows_it_to_the_end(client) -> None:
    episode_id = started(client)["episode_id"]
    step(client, FINISH)
    client.cookies.clear()

    body = client.get("/render", {"episode_id": episode_id}).json()

    assert (body["episode_id"], body["done"]) == (episode_id, True)
    assert '"grader_score": 0.' in body["text"]


def test_render_of_an_unknown_episode_or_of_none_is_a_404_naming_it(client) -> None:
    unknown = client.get("/render", {"episode_id": "no-such-episode"})
    nothing = client.get("/render")

    assert unknown.status_code == 404 and "no-such-episode" in unknown.json()["detail"]
    assert nothing.status_code == 404 and "reset first" in nothing.json()["detail"]


def test_render_refuses_a_bad_episode_id_with_a_422_naming_it(client) -> None:
    response = client.get("/render", {"episode_id": "x" * 300})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "episode_id"]


def test_someone_elses_episode_does_not_render(client, alice_token, bob_token, auth_required) -> None:
    alices = client.post("/reset", data="{}", content_type="application/json",
                         headers={"Authorization": f"Token {alice_token}"}).json()["observation"]["episode_id"]

    response = client.get("/render", {"episode_id": alices}, headers={"Authorization": f"Token {bob_token}"})

    assert response.status_code == 404


def test_the_openapi_document_describes_render_with_the_contracts_model(client) -> None:
    document = client.get("/openapi.json").json()

    operation = document["paths"]["/render"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RenderResponse"}
    assert set(document["components"]["schemas"]["RenderResponse"]["properties"]) == {
        "episode_id", "step_index", "done", "text"}
