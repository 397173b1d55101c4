"""The LLM suggester against recorded chat completions, served by a real local HTTP server.

``RecordedLLMServer`` is also used by ``reviews/tests/test_llm_suggestions.py``."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agents.evaluate import evaluate
from agents.llm import (
    LLMAnswerError,
    LLMConfig,
    action_refusal,
    llm_policy,
    llm_suggest,
    parse_llm_action,
)
from agents.policies import heuristic_policy
from envcore import PolypharmacyEnv, parse_action
from envcore.catalog import Catalog
from envcore.render import prompt_messages, render_observation

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = Path(__file__).resolve().parent / "llm_recordings"
PATIENT = "EP_0002"  # classic, easy_screening: ibuprofen, tramadol, amitriptyline
SEVERE_PAIR = ("DRUG_TRAMADOL", "DRUG_AMITRIPTYLINE")
API_KEY = "sk-recorded-key-0123456789"
MODEL = "recorded-model"


def recording(name: str) -> dict[str, Any]:
    return json.loads((RECORDINGS / f"{name}.json").read_text(encoding="utf-8"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler still sleeping must not hold up the test's teardown


class RecordedLLMServer:
    """A local OpenAI-compatible endpoint on 127.0.0.1: every POST gets the current recording
    (after ``delay_s``), and every request is kept in ``requests`` (path, headers, JSON body)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.recording = "valid_query"
        self.delay_s = 0.0
        self._httpd: _Server | None = None

    def answer(self, name: str, *, delay_s: float = 0.0) -> "RecordedLLMServer":
        self.recording, self.delay_s = name, delay_s
        return self

    @property
    def api_base(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def config(self, **overrides: Any) -> LLMConfig:
        return LLMConfig(**{"api_base": self.api_base, "api_key": API_KEY, "model": MODEL, "timeout_s": 5.0, **overrides})

    def prompt(self, index: int = -1) -> str:
        """The user message of a request the server got."""
        return self.requests[index]["body"]["messages"][-1]["content"]

    def __enter__(self) -> "RecordedLLMServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                server.requests.append({
                    "path": self.path, "headers": dict(self.headers.items()), "body": json.loads(body or b"null"),
                })
                if server.delay_s:
                    time.sleep(server.delay_s)
                answer = recording(server.recording)
                payload = json.dumps(answer["body"]).encode()
                try:
                    self.send_response(answer["status"])
                    self.send_header("Content-Type", "application/json")
                    for name, value in answer.get("headers", {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load("classic")


@pytest.fixture
def env() -> PolypharmacyEnv:
    return PolypharmacyEnv("classic")


@pytest.fixture
def server() -> Any:
    with RecordedLLMServer() as srv:
        yield srv


def fresh(env: PolypharmacyEnv) -> dict[str, Any]:
    return env.reset(patient_id=PATIENT, task_id="easy_screening").to_dict()


def rule_based(observation: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    return heuristic_policy(observation, catalog=catalog, rng=random.Random(0))


# ── configuration ───────────────────────────────────────────────────────────
def test_the_config_comes_from_the_llm_variables():
    config = LLMConfig.from_env({
        "LLM_API_BASE": "http://127.0.0.1:8080/v1/", "LLM_API_KEY": API_KEY, "LLM_MODEL": "m", "LLM_TIMEOUT_S": "2.5",
    })
    assert config == LLMConfig("http://127.0.0.1:8080/v1", API_KEY, "m", timeout_s=2.5)
    assert API_KEY not in repr(config)


def test_the_config_is_none_without_a_base_or_a_model_and_the_key_may_be_empty():
    assert LLMConfig.from_env({}) is None
    assert LLMConfig.from_env({"LLM_API_BASE": "http://x/v1", "LLM_MODEL": " "}) is None
    assert LLMConfig.from_env({"LLM_MODEL": "m", "LLM_API_KEY": API_KEY}) is None
    config = LLMConfig.from_env({"LLM_API_BASE": "http://x/v1", "LLM_MODEL": "m"})
    assert config is not None and config.api_key == ""


@pytest.mark.parametrize("variables, named", [
    ({"LLM_TIMEOUT_S": "soon"}, "LLM_TIMEOUT_S"),
    ({"LLM_TIMEOUT_S": "0"}, "LLM_TIMEOUT_S"),
    ({"LLM_TIMEOUT_S": "nan"}, "LLM_TIMEOUT_S"),
    ({"LLM_API_BASE": "file:///etc/passwd"}, "LLM_API_BASE"),
])
def test_a_bad_value_is_a_value_error_naming_the_variable(variables, named):
    with pytest.raises(ValueError, match=named):
        LLMConfig.from_env({"LLM_API_BASE": "http://x/v1", "LLM_MODEL": "m", **variables})


# ── the prompt ──────────────────────────────────────────────────────────────
def test_the_prompt_carries_the_whole_observation_the_schema_and_the_substitutes(env, catalog):
    env.reset(patient_id=PATIENT, task_id="easy_screening")
    obs = env.step({"action_type": "query_ddi", "drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1]}).to_dict()
    system, user = prompt_messages(obs, catalog=catalog)
    assert system["role"] == "system" and user["role"] == "user"
    content = user["content"]
    assert json.dumps(obs, sort_keys=True) in content  # every field, query results included
    assert '"severity": "severe"' in content and '"remaining_query_budget": 3' in content
    assert '"last_action_error": null' in content and '"interventions": []' in content
    assert '"PolypharmacyAction"' in content and "proposed_new_drug_id" in content
    assert '"DRUG_AMITRIPTYLINE": [{"drug_id": "DRUG_NORTRIPTYLINE"' in content
    assert '"DRUG_TRAMADOL": []' in content  # no same-class candidate
    # The suggester's prompt is the shared rendering (GET /render, the TRL class) plus the schema.
    assert content.startswith(render_observation(obs, catalog=catalog))


# ── parsing and checking answers ────────────────────────────────────────────
def test_parsing_takes_the_first_json_object_out_of_fences_and_prose():
    text = 'Sure. {not json} ```json\n{"action_type": "finish_review"}\n``` then {"action_type": "query_ddi"}'
    assert parse_llm_action(text) == {"action_type": "finish_review"}
    assert parse_llm_action('{"action": {"action_type": "finish_review", "metadata": {}}}') == {"action_type": "finish_review"}


@pytest.mark.parametrize("text, field", [
    ('{"action_type": "propose_intervention", "target_drug_id": "X", "intervention_type": "halve"}', "intervention_type"),
    ('{"action_type": "query_ddi", "drug_id_1": "X"}', "drug_id_2"),
    ('{"action_type": "finish_review", "why": "done"}', "why"),
    ("[1, 2]", None),
    ("", None),
])
def test_parsing_rejects_answers_off_the_schema_naming_the_field(text, field):
    with pytest.raises(LLMAnswerError) as caught:
        parse_llm_action(text)
    assert caught.value.field == field


def _candidate_actions(obs: dict[str, Any], catalog: Catalog) -> list[dict[str, Any]]:
    drugs = [m["drug_id"] for m in obs["current_medications"]]
    outside = next(d for d in sorted(catalog.drugs) if d not in drugs)
    actions: list[dict[str, Any]] = []
    for a in [*drugs, outside]:
        for b in [*drugs, outside]:
            actions.append({"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b})
        for kind in ("stop", "dose_reduce", "add_monitoring", "substitute"):
            actions.append({"action_type": "propose_intervention", "target_drug_id": a, "intervention_type": kind})
        for new in [*catalog.same_class(a), a, outside, "DRUG_UNKNOWN", *drugs[:2]]:
            actions.append({"action_type": "propose_intervention", "target_drug_id": a,
                            "intervention_type": "substitute", "proposed_new_drug_id": new})
    return actions


@pytest.mark.parametrize("catalog_name", ["classic", "curated"])
def test_the_regimen_check_gives_the_environments_own_refusals(catalog_name):
    catalog = Catalog.load(catalog_name)
    env = PolypharmacyEnv(catalog)
    checked = refused = exhausted = 0
    for seed in range(6):
        for task in ("easy_screening", "complex_tradeoff"):
            obs = env.reset(seed=seed, task_id=task)
            rng = random.Random(seed)
            while not obs.done:
                plain = obs.to_dict()
                candidates = _candidate_actions(plain, catalog)
                for action in candidates:
                    mine = action_refusal(parse_action(action).to_dict(), plain, catalog=catalog)
                    assert mine == env.refusal(action), action
                    checked += 1
                    refused += mine is not None
                    exhausted += mine is not None and mine[0] == "action_type"
                # Random steps that never finish run to the step limit, so exhausted budgets,
                # stopped and substituted drugs and reduced doses are all checked too.
                obs = env.step(rng.choice(candidates))
    assert checked > 10_000 and 0 < refused < checked and exhausted > 0


def test_the_regimen_check_refuses_a_substitute_named_with_another_intervention(env, catalog):
    action = {"action_type": "propose_intervention", "target_drug_id": "DRUG_AMITRIPTYLINE",
              "intervention_type": "stop", "proposed_new_drug_id": "DRUG_NORTRIPTYLINE"}
    refusal = action_refusal(action, fresh(env), catalog=catalog)
    assert refusal is not None and refusal[0] == "proposed_new_drug_id"


# ── suggestions over HTTP ───────────────────────────────────────────────────
def test_a_valid_answer_is_used_and_the_request_carries_model_key_and_observation(server, env, catalog):
    env.reset(patient_id=PATIENT, task_id="easy_screening")
    obs = env.step({"action_type": "query_ddi", "drug_id_1": "DRUG_IBUPROFEN", "drug_id_2": "DRUG_TRAMADOL"}).to_dict()
    suggestion = llm_suggest(obs, catalog=catalog, config=server.answer("valid_query").config())
    assert suggestion.source == "llm" and suggestion.fallback_reason is None and suggestion.model == MODEL
    assert suggestion.action == {"action_type": "query_ddi", "drug_id_1": SEVERE_PAIR[0], "drug_id_2": SEVERE_PAIR[1]}
    assert suggestion.raw is not None and json.loads(suggestion.raw) == suggestion.action
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    body = request["body"]
    assert body["model"] == MODEL and body["temperature"] == 0 and body["max_tokens"] > 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert obs["interaction_queries"][0]["severity"] in server.prompt()
    assert json.dumps(obs, sort_keys=True) in server.prompt()


def test_an_answer_in_code_fences_and_prose_is_used(server, env, catalog):
    suggestion = llm_suggest(fresh(env), catalog=catalog, config=server.answer("fenced_substitute").config())
    assert suggestion.source == "llm"
    assert suggestion.action == {
        "action_type": "propose_intervention", "target_drug_id": "DRUG_AMITRIPTYLINE", "intervention_type": "substitute",
        "proposed_new_drug_id": "DRUG_NORTRIPTYLINE", "rationale": "severe interaction with tramadol",
    }
    assert env.refusal(suggestion.action) is None


@pytest.mark.parametrize("name, named", [
    ("malformed_json", "no JSON object"),
    ("not_a_completion", "not a chat completion"),
    ("drug_not_in_regimen", "(drug_id_2): drug_id_2 'DRUG_WARFARIN' is not in the current regimen"),
    ("wrong_class_substitute", "(proposed_new_drug_id): proposed_new_drug_id DRUG_SERTRALINE (class N06AB) is not in the same therapeutic class"),
    ("error_500", "HTTP 500: The server had an error"),
    ("error_401", "HTTP 401"),
    ("redirect_307", "HTTP 307"),  # not followed: the key would go with it
])
def test_a_bad_answer_falls_back_to_the_rule_based_suggester_with_the_reason(server, env, catalog, name, named):
    obs = fresh(env)
    suggestion = llm_suggest(obs, catalog=catalog, config=server.answer(name).config())
    assert len(server.requests) == 1
    assert suggestion.source == "rule-based" and suggestion.model == MODEL
    assert named in (suggestion.fallback_reason or "")
    assert suggestion.action == rule_based(obs, catalog)


def test_a_query_with_the_budget_exhausted_falls_back(server, env, catalog):
    env.reset(patient_id=PATIENT, task_id="easy_screening")
    for a, b in [SEVERE_PAIR, ("DRUG_IBUPROFEN", "DRUG_TRAMADOL"), ("DRUG_IBUPROFEN", "DRUG_AMITRIPTYLINE"), SEVERE_PAIR]:
        obs = env.step({"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b}).to_dict()
    assert obs["remaining_query_budget"] == 0
    suggestion = llm_suggest(obs, catalog=catalog, config=server.answer("exhausted_budget_query").config())
    assert suggestion.source == "rule-based" and "(action_type): Query budget exhausted." in (suggestion.fallback_reason or "")
    assert suggestion.action == rule_based(obs, catalog) and env.refusal(suggestion.action) is None


def test_a_server_slower_than_the_timeout_falls_back_within_about_the_timeout(server, env, catalog):
    started = time.monotonic()
    suggestion = llm_suggest(fresh(env), catalog=catalog, config=server.answer("valid_query", delay_s=3.0).config(), timeout_s=0.4)
    elapsed = time.monotonic() - started
    assert suggestion.source == "rule-based" and "did not answer within 0.4 s" in (suggestion.fallback_reason or "")
    assert elapsed < 1.5 and suggestion.latency_s < 1.5


def test_the_config_timeout_applies_when_none_is_given(server, env, catalog):
    suggestion = llm_suggest(fresh(env), catalog=catalog, config=server.answer("valid_query", delay_s=3.0).config(timeout_s=0.3))
    assert suggestion.source == "rule-based" and "within 0.3 s" in (suggestion.fallback_reason or "")


def test_an_unreachable_endpoint_falls_back(env, catalog):
    with RecordedLLMServer() as srv:
        config = srv.config()
    suggestion = llm_suggest(fresh(env), catalog=catalog, config=config)  # the port is closed now
    assert suggestion.source == "rule-based" and "could not reach the LLM endpoint" in (suggestion.fallback_reason or "")


def test_unconfigured_falls_back_without_any_network_call(server, env, catalog):
    obs = fresh(env)
    suggestion = llm_suggest(obs, catalog=catalog, config=None)
    assert server.requests == []
    assert suggestion.source == "rule-based" and suggestion.model is None and suggestion.raw is None
    assert "not configured" in (suggestion.fallback_reason or "") and suggestion.action == rule_based(obs, catalog)


def test_an_empty_key_sends_no_authorization_header(server, env, catalog):
    llm_suggest(fresh(env), catalog=catalog, config=server.config(api_key=""))
    assert "Authorization" not in server.requests[0]["headers"]


@pytest.mark.parametrize("name", sorted(p.stem for p in RECORDINGS.glob("*.json")))
def test_the_key_never_appears_in_the_suggestion_or_the_logs(server, env, catalog, caplog, name):
    caplog.set_level("DEBUG")
    suggestion = llm_suggest(fresh(env), catalog=catalog, config=server.answer(name).config())
    assert API_KEY not in json.dumps(suggestion.to_dict()) and API_KEY not in repr(suggestion)
    assert API_KEY not in caplog.text


def test_suggestions_are_plain_data():
    data = llm_suggest(fresh(PolypharmacyEnv("classic")), catalog=Catalog.load("classic"), config=None).to_dict()
    assert set(data) == {"action", "source", "model", "fallback_reason", "latency_s", "raw"}
    json.dumps(data)


# ── the LLM as an agent ─────────────────────────────────────────────────────
def test_the_llm_policy_unconfigured_plays_as_the_heuristic(monkeypatch):
    for name in ("LLM_API_BASE", "LLM_API_KEY", "LLM_MODEL", "LLM_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)
    policy = llm_policy()
    ours = evaluate(policy, "easy_screening", range(5), "classic").to_dict()
    assert ours == evaluate(heuristic_policy, "easy_screening", range(5), "classic").to_dict()
    assert policy.fallbacks == round(ours["mean_steps"] * 5) and policy.last is not None and policy.last.source == "rule-based"


def test_the_llm_policy_asks_the_endpoint_with_the_policy_signature(server, env, catalog):
    policy = llm_policy(server.answer("valid_query").config(), timeout_s=2.0)
    action = policy(fresh(env), catalog=catalog, rng=random.Random(0))
    assert action["action_type"] == "query_ddi" and policy.fallbacks == 0 and len(server.requests) == 1


def test_the_llm_suggester_imports_nothing_from_django():
    code = (
        "import sys, agents.llm\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
