"""No 5xx from a real server: Schemathesis against its /openapi.json (a bounded run, ~650
requests in seconds: the coverage phase sends the boundary cases, empty, overlong and odd strings,
huge and negative numbers, wrong types, to every operation), plus the cases it does not reach."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from episodes.tests.conftest import FOREIGN_QUERY, http_json, stored_step_indices
from testsupport.live_server import LiveServer

pytestmark = pytest.mark.live

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.skipif(not SCHEMATHESIS.exists() and not shutil.which("schemathesis"),
                    reason="schemathesis is not installed (pip install -r requirements-dev.txt)")
def test_no_generated_request_gets_a_server_error(env_server: LiveServer, tmp_path: Path) -> None:
    command = [
        str(SCHEMATHESIS if SCHEMATHESIS.exists() else shutil.which("schemathesis")), "run",
        env_server.url + "/openapi.json",
        "--checks", "not_a_server_error",
        "--phases", "coverage,fuzzing",
        "--max-examples", "20",
        "--seed", "1",
        "--generation-database", "none",
        # One worker: with two threads, CPython 3.11's ast.parse (Hypothesis describes its
        # lambdas with it) now and then raises "AST constructor recursion depth mismatch"
        # (python/cpython#106905), a runtime error of the tool, not of the server.
        "--workers", "1",
        "--request-timeout", "10",
        "--no-color",
    ]

    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "Traceback" not in env_server.log(), env_server.log()[-4000:]


def test_a_nul_in_a_step_on_a_cached_episode_is_a_422_not_a_500(env_server: LiveServer) -> None:
    # The event-loop fast path (episodes.fastpath) serves steps on cached episodes: a NUL that
    # reached its write would fail on PostgreSQL after the environment had stepped.
    status, body = http_json(env_server, "POST", "/reset", {"task_id": "easy_screening"})
    episode_id = body["observation"]["episode_id"]
    assert http_json(env_server, "POST", "/step", {"action": FOREIGN_QUERY, "episode_id": episode_id})[0] == 200
    bad = {"action_type": "query_ddi", "drug_id_1": "A\u0000", "drug_id_2": "B"}

    status, body = http_json(env_server, "POST", "/step", {"action": bad, "episode_id": episode_id})

    assert status == 422 and body["detail"][0]["loc"] == ["body", "action", "drug_id_1"]
    status, body = http_json(env_server, "POST", "/step", {"action": FOREIGN_QUERY, "episode_id": episode_id})
    assert (status, body["observation"]["step_index"]) == (200, 2)
    assert stored_step_indices(env_server, episode_id) == [1, 2]
