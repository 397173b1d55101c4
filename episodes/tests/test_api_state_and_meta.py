"""GET /state, /health, /schema, /metadata, /openapi.json and /docs: what OpenEnv clients and
``openenv validate`` read."""

from __future__ import annotations

import json

import pytest

from episodes.tests.conftest import FOREIGN_QUERY, post, started, step

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogs")]


def test_state_with_no_episode_is_an_empty_state(client) -> None:
    response = client.get("/state")

    assert response.status_code == 200
    assert response.json() == {"episode_id": None, "step_count": 0}


def test_state_follows_the_callers_latest_episode(client) -> None:
    episode_id = started(client, task_id="easy_screening")["episode_id"]
    step(client, FOREIGN_QUERY)

    state = client.get("/state").json()

    assert state["episode_id"] == episode_id
    assert state["step_count"] == 1
    assert (state["task_id"], state["max_steps"]) == ("easy_screening", 10)
    assert {"remaining_query_budget", "remaining_intervention_budget"} <= set(state)


def test_state_of_a_named_episode_needs_no_cookie(client) -> None:
    episode_id = started(client)["episode_id"]
    client.cookies.clear()

    assert client.get("/state", {"episode_id": episode_id}).json()["episode_id"] == episode_id


def test_state_of_an_unknown_episode_is_404(client) -> None:
    response = client.get("/state", {"episode_id": "no-such-episode"})

    assert response.status_code == 404
    assert "no-such-episode" in response.json()["detail"]


def test_health_says_healthy(client) -> None:
    assert client.get("/health").json()["status"] == "healthy"


def test_schema_has_the_action_observation_and_state_schemas(client) -> None:
    schema = client.get("/schema").json()

    assert set(schema) == {"action", "observation", "state"}
    assert all(part.get("oneOf") or part.get("properties") for part in schema.values())
    assert "propose_intervention" in json.dumps(schema["action"])
    assert "current_medications" in schema["observation"]["properties"]


def test_metadata_has_exactly_openenvs_fields(client) -> None:
    metadata = client.get("/metadata").json()

    assert set(metadata) == {"name", "description", "readme_content", "version", "author", "documentation_url"}
    assert all(isinstance(value, str) for value in metadata.values())
    assert metadata["name"] == "polypharmacy_env"
    assert "PolypharmacyEnv" in metadata["readme_content"]


def test_openapi_has_a_string_version_and_the_env_paths(client) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert isinstance(document["info"]["version"], str)
    assert {"/reset", "/step", "/state", "/schema", "/metadata", "/mcp"} <= set(document["paths"])


def test_the_docs_page_renders(client) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_validation_comes_before_the_episode_lookup(client) -> None:
    response = post(client, "/step", raw=b"{not json")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_a_bad_state_query_is_located_in_the_query(client) -> None:
    response = client.get("/state", {"episode_id": "x" * 300})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "episode_id"]
