"""The event-loop fast path for anonymous steps (episodes/fastpath.py) answers exactly as the
DRF view does, writes the same rows, and steps aside whenever it cannot decide alone."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from episodes.tests.conftest import FINISH, http_json, stored_step_indices

pytestmark = pytest.mark.live

SESSION_COOKIE = {"Cookie": "sessionid=not-a-session"}  # any session cookie takes the DRF view


def raw_step(server, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(
        server.url + "/step", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read(), {k.lower(): v for k, v in response.headers.items()}


def play(server, episode_id: str, actions: list[dict], headers: dict[str, str] | None = None) -> list[dict]:
    out = []
    for action in actions:
        status, body, response_headers = raw_step(server, {"action": action, "episode_id": episode_id}, headers)
        assert status == 200
        assert int(response_headers["content-length"]) == len(body)
        payload = json.loads(body)
        payload["observation"].pop("episode_id")
        out.append(payload)
    return out


def test_the_fast_path_and_the_view_give_the_same_answers_and_rows(env_server):
    fast_id = http_json(env_server, "POST", "/reset", {"seed": 5, "task_id": "easy_screening", "catalog": "classic"})[1]["observation"]
    slow_id = http_json(env_server, "POST", "/reset", {"seed": 5, "task_id": "easy_screening", "catalog": "classic"})[1]["observation"]
    drugs = [m["drug_id"] for m in fast_id["current_medications"]]
    actions = [
        {"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": drugs[1]},
        {"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": "DRUG_NOT_HERE"},  # refused: a penalised step
        {"action_type": "propose_intervention", "target_drug_id": drugs[0], "intervention_type": "add_monitoring"},
        FINISH,
    ]
    fast = play(env_server, fast_id["episode_id"], actions)
    slow = play(env_server, slow_id["episode_id"], actions, headers=SESSION_COOKIE)
    assert fast == slow
    assert stored_step_indices(env_server, fast_id["episode_id"]) == [1, 2, 3, 4]
    assert stored_step_indices(env_server, slow_id["episode_id"]) == [1, 2, 3, 4]


def test_the_fast_path_leaves_errors_to_the_view(env_server):
    observation = http_json(env_server, "POST", "/reset", {"seed": 1, "catalog": "classic"})[1]["observation"]
    episode_id = observation["episode_id"]
    status, body = http_json(env_server, "POST", "/step", {"action": {"action_type": "explode"}, "episode_id": episode_id})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "action", "action_type"]
    assert http_json(env_server, "POST", "/step", {"action": FINISH, "episode_id": episode_id})[0] == 200
    status, body = http_json(env_server, "POST", "/step", {"action": FINISH, "episode_id": episode_id})
    assert status == 409
    assert stored_step_indices(env_server, episode_id) == [1]
