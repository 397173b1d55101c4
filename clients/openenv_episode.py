"""The real OpenEnv client library against a running PolypharmacyEnv server, as pytest tests.

Run INSIDE a client virtualenv (bin/openenv-clients makes them, pytest included); it imports only
the OpenEnv library, pytest and the standard library, never the project
(episodes/tests/test_openenv_clients.py runs it against a live server):

    POLYPHARMACY_CLIENT_URL=http://127.0.0.1:8000 POLYPHARMACY_CLIENT_MODE=async \
        .venv-openenv-0.10.0/bin/python -m pytest clients/openenv_episode.py

``GenericEnvClient`` is used asynchronously (``POLYPHARMACY_CLIENT_MODE=async``; not the library's
own OPENENV_CLIENT_MODE, which means something else) or through
``.sync()`` (``sync``):
  * episodes: a full episode on every task (reset with task_id and seed, queries on drugs of the
    regimen, an intervention, finish_review): ``done`` and a grader_score in [0.001, 0.999] at
    the end, ``state()`` agrees, the same seed gives the same patient;
  * errors: malformed actions and bad resets raise the library's
    ``RuntimeError("Server error: ... (code: CODE)")`` and the same session goes on stepping; a
    step before any reset is an error; a well-formed action the environment refuses (a drug not
    in the regimen) is a normal step with ``last_action_error`` and reward 0.001;
  * http (``-k http``; the same whatever the mode): the HTTP ``/reset`` and ``/step`` bodies
    validate against the library's own ``ResetResponse`` / ``StepResponse`` models (exactly
    observation, reward, done).
``POLYPHARMACY_CLIENT_LIBRARY`` (e.g. ``openenv==0.10.0``) makes the first test check the release.
"""

from __future__ import annotations

import asyncio
import functools
import http.cookiejar
import json
import os
import re
import urllib.error
import urllib.request
from importlib import metadata
from typing import Any, Callable

import pytest
from openenv.core import GenericEnvClient

TASKS = ("easy_screening", "budgeted_screening", "complex_tradeoff")
SCORE_MIN, SCORE_MAX = 0.001, 0.999
INVALID_REWARD = 0.001
CODE_RE = re.compile(r"\(code: ([A-Z_]+)\)\s*$")
MESSAGE_TIMEOUT_S = 20.0
URL = os.environ.get("POLYPHARMACY_CLIENT_URL", "").rstrip("/")
MODE = os.environ.get("POLYPHARMACY_CLIENT_MODE", "async")
SEEDS = int(os.environ.get("POLYPHARMACY_CLIENT_SEEDS", "2"))


# ── one client session, the same calls whether async or sync ──────────────────────────────────
class Session:
    """A GenericEnvClient session. In async mode every call is made and awaited inside a running
    event loop (the script's own, kept for the session's life); in sync mode it goes through the
    library's ``.sync()`` wrapper."""

    def __init__(self, url: str, mode: str) -> None:
        self.mode = mode
        client = GenericEnvClient(base_url=url, message_timeout_s=MESSAGE_TIMEOUT_S)
        if mode == "sync":
            self.client = client.sync()
            self.client.__enter__()
        else:
            self.loop = asyncio.new_event_loop()
            self.client = client
            try:
                self._await(lambda: self.client.__aenter__())
            except BaseException:
                self.loop.close()
                raise

    def _await(self, make: Callable[[], Any]) -> Any:
        async def call() -> Any:
            return await make()  # the call itself happens inside the running loop

        return self.loop.run_until_complete(call())

    def reset(self, **kwargs: Any) -> Any:
        if self.mode == "sync":
            return self.client.reset(**kwargs)
        return self._await(lambda: self.client.reset(**kwargs))

    def step(self, action: dict[str, Any]) -> Any:
        if self.mode == "sync":
            return self.client.step(action)
        return self._await(lambda: self.client.step(action))

    def state(self) -> Any:
        if self.mode == "sync":
            return self.client.state()
        return self._await(lambda: self.client.state())

    def close(self) -> None:
        try:
            if self.mode == "sync":
                self.client.__exit__(None, None, None)
            else:
                self._await(lambda: self.client.__aexit__(None, None, None))
                self.loop.close()
        except Exception:  # closing is best effort; the test has already passed or failed
            pass

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def server_error_code(call: Callable[[], Any]) -> tuple[str | None, str]:
    """(code, message) of the server error frame the call raised; (None, what happened) if none."""
    try:
        result = call()
    except RuntimeError as exc:
        match = CODE_RE.search(str(exc))
        return (match.group(1) if match else "NO_CODE_IN_MESSAGE"), str(exc)
    except Exception as exc:
        return None, f"raised {type(exc).__name__}, not RuntimeError: {exc}"
    return None, f"no error raised; returned {describe(result)}"


def describe(result: Any) -> Any:
    obs = getattr(result, "observation", None)
    if isinstance(obs, dict):
        keep = ("episode_id", "task_id", "step_index", "last_action_error", "grader_score")
        return {"observation": {k: obs.get(k) for k in keep}, "reward": result.reward, "done": result.done}
    return repr(result)[:300]


def in_score_range(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and SCORE_MIN <= value <= SCORE_MAX


def regimen(obs: dict[str, Any]) -> list[str]:
    return [m["drug_id"] for m in obs.get("current_medications") or []]


def library_version() -> str:
    for dist in ("openenv", "openenv-core"):
        try:
            return f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


@pytest.fixture
def env():
    assert URL, "set POLYPHARMACY_CLIENT_URL to the server's base URL"
    assert MODE in ("async", "sync"), f"POLYPHARMACY_CLIENT_MODE must be async or sync, not {MODE!r}"
    with Session(URL, MODE) as session:
        yield session


def test_the_library_is_the_release_under_test():
    expected = os.environ.get("POLYPHARMACY_CLIENT_LIBRARY")
    assert expected is None or library_version() == expected


# ── full episodes ─────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("seed", range(SEEDS))
@pytest.mark.parametrize("task_id", TASKS)
def test_a_full_episode_ends_with_a_grade_and_the_same_seed_gives_the_same_patient(env, task_id, seed):
    r = env.reset(task_id=task_id, seed=seed)
    obs = r.observation
    drugs = regimen(obs)
    assert isinstance(obs, dict) and obs.get("task_id") == task_id and r.done is False, describe(r)
    assert obs.get("grader_score") is None and len(drugs) >= 2 and obs.get("step_index") == 0, describe(r)
    episode_id = obs.get("episode_id")
    steps = 0
    queries = min(3, int(obs.get("remaining_query_budget") or 0))
    pairs = [(drugs[i], drugs[j]) for i in range(len(drugs)) for j in range(i + 1, len(drugs))][:queries]
    for d1, d2 in pairs:
        r = env.step({"action_type": "query_ddi", "drug_id_1": d1, "drug_id_2": d2})
        steps += 1
        o = r.observation
        assert r.done is False and not o.get("last_action_error") and in_score_range(r.reward), describe(r)
        assert o.get("step_index") == steps and len(o.get("interaction_queries") or []) == steps, describe(r)
        assert o.get("episode_id") == episode_id, describe(r)

    r = env.step({"action_type": "propose_intervention", "target_drug_id": drugs[0],
                  "intervention_type": "add_monitoring", "rationale": "client library check"})
    steps += 1
    o = r.observation
    assert r.done is False and not o.get("last_action_error") and in_score_range(r.reward), describe(r)
    assert len(o.get("interventions") or []) == 1 and o.get("step_index") == steps, describe(r)

    r = env.step({"action_type": "finish_review"})
    steps += 1
    o = r.observation
    assert r.done is True and in_score_range(o.get("grader_score")), describe(r)
    assert isinstance(r.reward, (int, float)) and abs(r.reward - o["grader_score"]) < 1e-9, describe(r)
    s = env.state()
    assert isinstance(s, dict) and s.get("episode_id") == episode_id and s.get("step_count") == steps, s

    # A step on a finished episode is an error frame, and the session goes on.
    code, message = server_error_code(lambda: env.step({"action_type": "finish_review"}))
    assert code is not None, message
    again = env.reset(task_id=task_id, seed=seed)
    assert again.observation.get("patient_id") == obs.get("patient_id"), describe(again)
    assert again.observation.get("episode_id") != episode_id and again.done is False, describe(again)


# ── errors, on sessions that must survive them ────────────────────────────────────────────────
def test_a_fresh_session_refuses_a_step_before_reset_then_resets(env):
    assert env.state() == {"episode_id": None, "step_count": 0}
    code, message = server_error_code(lambda: env.step({"action_type": "finish_review"}))
    assert code == "SESSION_ERROR", message
    r = env.reset(task_id="easy_screening", seed=3)
    assert r.done is False and regimen(r.observation), describe(r)


def test_malformed_actions_and_bad_resets_are_validation_errors_and_the_session_goes_on(env):
    r = env.reset(task_id="easy_screening", seed=1)
    drugs = regimen(r.observation)
    episode_id, budget = r.observation.get("episode_id"), r.observation.get("remaining_query_budget")
    malformed = {
        "unknown_action_type": {"action_type": "no_such_action"},
        "missing_field": {"action_type": "query_ddi", "drug_id_1": drugs[0]},
        "unknown_field": {"action_type": "finish_review", "bogus": 1},
        "wrong_type": {"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": 7},
        "bad_intervention_type": {"action_type": "propose_intervention", "target_drug_id": drugs[0],
                                  "intervention_type": "amputate"},
        "no_action_type": {"drug_id_1": drugs[0]},
    }
    calls: dict[str, Callable[[], Any]] = {label: functools.partial(env.step, action) for label, action in malformed.items()}
    calls["reset_unknown_task"] = lambda: env.reset(task_id="no_such_task")
    calls["reset_negative_seed"] = lambda: env.reset(seed=-1)
    calls["reset_unknown_field"] = lambda: env.reset(task_id="easy_screening", bogus_option=1)
    answers = {label: server_error_code(call) for label, call in calls.items()}
    assert {label: code for label, (code, _) in answers.items()} == dict.fromkeys(calls, "VALIDATION_ERROR"), answers

    s = env.state()  # the episode is kept through the errors
    assert isinstance(s, dict) and s.get("episode_id") == episode_id and s.get("step_count") == 0, s
    r = env.step({"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": drugs[1]})
    o = r.observation  # malformed actions cost no step
    assert r.done is False and not o.get("last_action_error") and o.get("episode_id") == episode_id, describe(r)
    assert o.get("step_index") == 1 and o.get("remaining_query_budget") == budget - 1, describe(r)


def test_an_action_the_environment_refuses_is_a_normal_step_with_last_action_error(env):
    # A drug outside this regimen, from the other tasks' patients.
    others = {d for task_id in TASKS[1:] for seed in range(2)
              for d in regimen(env.reset(task_id=task_id, seed=seed).observation)}
    r = env.reset(task_id="easy_screening", seed=1)
    drugs = regimen(r.observation)
    budget = r.observation.get("remaining_query_budget")
    outside = sorted(others - set(drugs))
    assert outside, "every drug of the other patients is in this regimen"

    r = env.step({"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": outside[0]})
    o = r.observation
    assert "not in the current regimen" in (o.get("last_action_error") or ""), describe(r)
    assert r.done is False and r.reward == INVALID_REWARD, describe(r)
    assert o.get("step_index") == 1 and o.get("remaining_query_budget") == budget, describe(r)
    r = env.step({"action_type": "propose_intervention", "target_drug_id": outside[0], "intervention_type": "stop"})
    o = r.observation
    assert r.done is False and bool(o.get("last_action_error")) and r.reward == INVALID_REWARD, describe(r)
    assert o.get("step_index") == 2 and not o.get("interventions"), describe(r)
    r = env.step({"action_type": "query_ddi", "drug_id_1": drugs[0], "drug_id_2": drugs[-1]})
    assert not r.observation.get("last_action_error") and r.observation.get("step_index") == 3, describe(r)
    r = env.step({"action_type": "finish_review"})
    assert r.done is True and in_score_range(r.observation.get("grader_score")), describe(r)


# ── the HTTP bodies against the library's own wire models ─────────────────────────────────────
def test_http_reset_step_and_state_bodies_validate_against_the_librarys_wire_models():
    from openenv.core.env_server.types import ResetResponse, State, StepResponse

    assert URL, "set POLYPHARMACY_CLIENT_URL to the server's base URL"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(URL + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with opener.open(req, timeout=MESSAGE_TIMEOUT_S) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    status, body = call("POST", "/reset", {"task_id": "budgeted_screening", "seed": 5})
    assert status == 200, body
    ResetResponse.model_validate(body)
    assert set(body) == {"observation", "reward", "done"}, sorted(body)
    drugs = regimen(body["observation"])
    status, body = call("POST", "/step", {"action": {"action_type": "query_ddi", "drug_id_1": drugs[0],
                                                     "drug_id_2": drugs[1]}})
    assert status == 200, body
    StepResponse.model_validate(body)
    assert set(body) == {"observation", "reward", "done"}, sorted(body)
    status, body = call("POST", "/step", {"action": {"action_type": "finish_review"}})
    assert status == 200, body
    StepResponse.model_validate(body)
    assert body["done"] is True and in_score_range(body["observation"].get("grader_score")), body
    status, body = call("GET", "/state")
    assert status == 200, body
    State.model_validate(body)
    status, body = call("POST", "/step", {"action": {"action_type": "no_such_action"}})
    # A malformed action is a 422 with a FastAPI-style detail list.
    assert status == 422 and isinstance(body, dict) and isinstance(body.get("detail"), list), (status, body)
    assert all({"loc", "msg", "type"} <= set(d) for d in body["detail"]), body
