"""client/polypharmacy_env/trl.py, TRL's environment class (issue 16, point 6), playing reviews on
a real server process the way GRPOTrainer drives it: ``reset(**dataset_row)``, tool calls, then
``get_reward()``. The module is loaded by its path (standard library only; the client package's
``__init__`` is not needed). TRL's own tool discovery on it runs in agents/tests/test_rl_stack.py."""

from __future__ import annotations

import importlib.util
import json
import typing
from types import ModuleType
from typing import Any

import pytest

from envcore.contract import INTERVENTION_TYPES
from episodes.tests.conftest import http_json
from testsupport.live_server import ROOT, free_port

pytestmark = pytest.mark.live  # a server process (env_server)
TRL_MODULE = ROOT / "client" / "polypharmacy_env" / "trl.py"


def load_trl() -> ModuleType:
    spec = importlib.util.spec_from_file_location("polypharmacy_env_trl", TRL_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


trl = load_trl()


def observation_in(text: str) -> dict[str, Any]:
    """The observation JSON the rendering carries (its second paragraph)."""
    return json.loads(text.split("\n\n")[1])


def test_the_intervention_tool_offers_exactly_the_contracts_intervention_types() -> None:
    hints = typing.get_type_hints(trl.PolypharmacyToolEnv.propose_intervention)
    assert typing.get_args(hints["intervention_type"]) == INTERVENTION_TYPES


def test_an_unreachable_server_is_a_clear_error() -> None:
    env = trl.PolypharmacyToolEnv(f"http://127.0.0.1:{free_port()}", timeout_s=5)
    with pytest.raises(trl.PolypharmacyServerError, match="cannot reach"):
        env.reset()
    with pytest.raises(trl.PolypharmacyServerError, match="reset first"):
        env.finish_review()


def test_a_whole_review_through_the_tools_is_rewarded_with_its_grade(env_server) -> None:
    env = trl.PolypharmacyToolEnv(env_server.url)
    text = env.reset(prompt=[{"role": "user", "content": "review"}], task_id="easy_screening", seed=0, catalog="classic")
    first = observation_in(text)
    drugs = [m["drug_id"] for m in first["current_medications"]]
    status, rendered = http_json(env_server, "GET", f"/render?episode_id={first['episode_id']}")
    assert status == 200 and text == rendered["text"]  # the server's own rendering, the suggester's
    assert (first["task_id"], first["catalog"], first["step_index"]) == ("easy_screening", "classic", 0)

    after_query = observation_in(env.query_ddi(drugs[0], drugs[1]))
    assert len(after_query["interaction_queries"]) == 1 and after_query["last_action_error"] is None
    after_intervention = observation_in(env.propose_intervention(drugs[0], "add_monitoring", rationale="check"))
    assert after_intervention["interventions"][0]["action_type"] == "add_monitoring"
    assert env.get_reward() == 0.0  # not finished: nothing earned yet

    final = observation_in(env.finish_review())
    assert final["terminated"] is True and env.get_reward() == final["grader_score"] >= 0.001
    with pytest.raises(trl.PolypharmacyServerError, match="has ended"):
        env.query_ddi(drugs[0], drugs[1])

    again = observation_in(env.reset(task_id="easy_screening", seed=0, catalog="classic"))
    assert again["episode_id"] != first["episode_id"] and again["patient_id"] == first["patient_id"]
    assert env.get_reward() == 0.0


def test_a_bad_tool_call_tells_the_model_why_and_the_review_goes_on(env_server) -> None:
    env = trl.PolypharmacyToolEnv(env_server.url)
    drugs = [m["drug_id"] for m in observation_in(env.reset(task_id="budgeted_screening", seed=4))["current_medications"]]

    with pytest.raises(trl.PolypharmacyServerError, match="HTTP 422: action.intervention_type"):
        env.propose_intervention(drugs[0], "amputate")
    refused = observation_in(env.query_ddi(drugs[0], "DRUG_NOT_IN_ANY_REGIMEN"))  # the environment's own refusal

    assert refused["step_index"] == 1 and "not in the current regimen" in refused["last_action_error"]
    assert observation_in(env.finish_review())["grader_score"] == env.get_reward()
