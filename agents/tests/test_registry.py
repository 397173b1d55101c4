"""Agents by name (agents.registry): the baselines, checkpoints by path or by name, the LLM agent,
and the messages for what does not resolve. Pure Python: no database."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from agents.learning.agent import ModelPolicy
from agents.learning.policy import ActorCritic, PolicyConfig, save_checkpoint
from agents.policies import heuristic_policy, random_policy
from agents.registry import AGENT_SPECS_HELP, resolve_agent
from envcore.env import PolypharmacyEnv
from envcore.gym_env import N_ACTIONS, OBS_SIZE


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = ActorCritic(PolicyConfig(OBS_SIZE, N_ACTIONS, (16,)))
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", model, metrics={"note": "untrained"})


def play(policy, catalog: str = "classic", seed: int = 0) -> int:
    """Run one episode with ``policy`` in process; the number of steps it took."""
    env = PolypharmacyEnv(catalog)
    obs = env.reset(seed=seed, task_id="easy_screening")
    rng = random.Random(seed)
    while not obs.done:
        obs = env.step(policy(obs.to_dict(), catalog=env.catalog, rng=rng))
    return obs.step_index


def test_it_resolves_the_baselines_by_name():
    assert resolve_agent("random") == (random_policy, "random")
    assert resolve_agent(" heuristic ") == (heuristic_policy, "heuristic")


def test_it_rejects_an_unknown_agent_naming_the_allowed_forms():
    with pytest.raises(ValueError) as info:
        resolve_agent("greedy")
    message = str(info.value)
    assert "'greedy'" in message
    for form in ("random", "heuristic", "llm", "policy:<checkpoint>"):
        assert form in message


def test_the_help_names_every_form():
    for form in ("random", "heuristic", "llm", "policy:<checkpoint>"):
        assert form in AGENT_SPECS_HELP


def test_it_loads_a_checkpoint_by_path_and_the_policy_plays(untrained_checkpoint: Path):
    policy, label = resolve_agent(f"policy:{untrained_checkpoint}")
    assert label == f"policy:{untrained_checkpoint}"
    assert isinstance(policy, ModelPolicy) and policy.checkpoint["metrics"] == {"note": "untrained"}
    assert play(policy) >= 1


def test_it_asks_for_a_checkpoint_after_the_prefix():
    with pytest.raises(ValueError, match="needs a checkpoint"):
        resolve_agent("policy:")


def test_a_checkpoint_name_needs_a_resolver():
    with pytest.raises(ValueError, match="only file paths work"):
        resolve_agent("policy:best-curated")


def test_it_resolves_a_checkpoint_name_through_the_resolver(untrained_checkpoint: Path):
    asked: list[str] = []

    def resolver(name: str) -> Path:
        asked.append(name)
        return untrained_checkpoint

    policy, label = resolve_agent("policy:best-curated", checkpoint_resolver=resolver)
    assert asked == ["best-curated"]
    assert label == "policy:best-curated"
    assert play(policy) >= 1


def test_a_path_wins_over_the_resolver(untrained_checkpoint: Path):
    def resolver(name: str) -> Path:
        raise AssertionError("a file path must not reach the resolver")

    _policy, label = resolve_agent(f"policy:{untrained_checkpoint}", checkpoint_resolver=resolver)
    assert label.startswith("policy:")


def test_the_resolvers_lookup_error_becomes_a_value_error_with_its_message():
    def resolver(name: str) -> Path:
        raise LookupError(f"no checkpoint named {name!r}")

    with pytest.raises(ValueError, match="no checkpoint named 'nope'"):
        resolve_agent("policy:nope", checkpoint_resolver=resolver)


def test_a_resolved_path_that_is_not_a_file_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="not a file"):
        resolve_agent("policy:gone", checkpoint_resolver=lambda name: tmp_path / "gone.pt")


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path):
    bogus = tmp_path / "notes.pt"
    bogus.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="Cannot load checkpoint"):
        resolve_agent(f"policy:{bogus}")


def test_the_llm_agent_falls_back_to_a_working_policy_without_an_llm(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LLM_API_BASE", raising=False)
    monkeypatch.delenv("LLM_MODEL", raising=False)
    policy, label = resolve_agent("llm")
    assert label == "llm:heuristic-fallback"
    assert play(policy) >= 1


def test_a_configured_llm_agent_is_labelled_by_its_model(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LLM_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LLM_MODEL", "tiny-model")
    _policy, label = resolve_agent("llm")
    assert label == "tiny-model"


def test_a_bad_llm_variable_is_a_value_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LLM_API_BASE", "ftp://somewhere")
    monkeypatch.setenv("LLM_MODEL", "tiny-model")
    with pytest.raises(ValueError, match="LLM_API_BASE"):
        resolve_agent("llm")
