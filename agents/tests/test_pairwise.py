"""The pairwise learner (agents/learning/pairwise.py): masking under the kind-then-action policy,
seeded training bit for bit, the interaction memory learned from queries, the checkpoint as an
agent on the wire, and the learner's extra observation read the same from the environment and
from the wire."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
import torch

from agents.evaluate import run_episode
from agents.learning.agent import checkpoint_policy, model_policy
from agents.learning.encoding import LEARNER_EXTRAS, drug_vocabulary, encode_observation, learner_extras
from agents.learning.pairwise import hierarchical_logits
from agents.learning.policy import ActorCritic, PolicyConfig, load_checkpoint, save_checkpoint
from agents.learning.ppo import TrainConfig, _extras, greedy_scores, policy_config, train
from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from envcore.gym_env import FINISH_ACTION, N_ACTIONS, N_QUERY, OBS_SIZE, PolypharmacyGymEnv

TINY: dict[str, Any] = dict(task_id="budgeted_screening", catalog="classic", total_steps=2048, n_envs=8, n_steps=64,
                            hidden=(16,), embed=8, epochs=2, minibatch_size=256, eval_every=0, arch="pairwise")


@pytest.fixture(scope="module")
def tiny_runs():
    return train(TrainConfig(seed=3, **TINY)), train(TrainConfig(seed=3, **TINY)), train(TrainConfig(seed=4, **TINY))


def test_kind_then_action_is_a_distribution_over_valid_actions_only():
    torch.manual_seed(0)
    within = torch.randn(64, N_ACTIONS) * 5
    kind = torch.randn(64, 3) * 5
    rng = np.random.default_rng(0)
    mask = torch.from_numpy(rng.random((64, N_ACTIONS)) < 0.05)
    mask[:, FINISH_ACTION] = True
    mask[:8, :N_QUERY] = False  # no query possible: the query kind must get nothing
    logp = hierarchical_logits(within, kind, mask, -1e9)
    probs = torch.softmax(logp, -1)
    assert torch.allclose(probs.sum(-1), torch.ones(64), atol=1e-5)
    assert float(probs[~mask].max()) == 0.0
    assert torch.allclose(torch.exp(logp)[mask].sum() / 64, torch.tensor(1.0), atol=1e-5)


def test_same_seed_gives_identical_parameters_and_memory(tiny_runs):
    a, b, c = tiny_runs
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert "pairwise.memory" in sa  # the memory is state: saved with the weights
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_the_memory_holds_exactly_the_rules_of_the_pairs_queried_in_training(tiny_runs):
    model = tiny_runs[0].model
    catalog = Catalog.load("classic")
    vocab = model.config.drug_ids
    memory = model.pairwise.memory
    known = (memory[:, :, 0] > 0).nonzero().tolist()
    assert known, "a run of 2,048 steps on budgeted_screening asks something"
    for a, b in known:
        assert 0 < a <= len(vocab) and 0 < b <= len(vocab)
        rule = catalog.rule(vocab[a - 1], vocab[b - 1])
        severity = ["none", "mild", "moderate", "severe"][int(memory[a, b, 1:5].argmax())]
        assert severity == (rule.severity if rule is not None else "none")
        assert torch.equal(memory[a, b], memory[b, a])
    assert float(memory[0].abs().sum()) == 0.0  # nothing about empty slots


def test_extras_from_the_wire_equal_the_training_path():
    catalog = Catalog.load("curated")
    index = {d: i for i, d in enumerate(drug_vocabulary(catalog))}
    gym = PolypharmacyGymEnv(catalog)
    rng = np.random.default_rng(1)
    checked = 0
    for task in ("easy_screening", "budgeted_screening", "complex_tradeoff"):
        for seed in range(8):
            obs, info = gym.reset(options={"task_id": task, "patient_seed": seed})
            while True:
                wire = gym.env.observation.to_dict()
                vector, mask, slots = encode_observation(wire, catalog)
                assert np.array_equal(vector, obs) and np.array_equal(mask, info["action_mask"])
                assert np.array_equal(learner_extras(slots, wire, catalog, index), _extras(gym, index))
                checked += 1
                obs, _r, terminated, truncated, info = gym.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
                if terminated or truncated:
                    break
    assert checked > 100


def test_unknown_drugs_get_their_own_index():
    catalog = Catalog.load("classic")
    index = {"DRUG_A": 0}
    env = PolypharmacyEnv(catalog)
    obs = env.reset(seed=1, task_id="easy_screening").to_dict()
    slots = [m["drug_id"] for m in obs["current_medications"]] + [None]
    extras = learner_extras(slots, obs, catalog, index)
    assert extras.shape == (LEARNER_EXTRAS,)
    assert set(extras[:len(slots) - 1].tolist()) == {2.0}  # every drug outside the vocabulary
    assert extras[len(slots) - 1] == 0.0  # the empty slot


def test_checkpoint_round_trip_and_the_wire_agent_matches_the_adapter(tiny_runs, tmp_path):
    result = tiny_runs[0]
    path = result.save(str(tmp_path / "pairwise.pt"))
    model, payload = load_checkpoint(path)
    assert payload["policy_config"]["arch"] == "pairwise" and model.config == result.model.config
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in result.model.state_dict().items())
    # The checkpoint as an agent (wire observations) plays the episodes greedy_scores plays
    # through the adapter, so it scores the same.
    seeds = list(range(10000, 10010))
    policy = checkpoint_policy(path)
    env = PolypharmacyEnv("classic")
    wire = [run_episode(env, policy, task_id="budgeted_screening", seed=s).grader_score for s in seeds]
    assert wire == pytest.approx(greedy_scores(model, "classic", "budgeted_screening", seeds))


def test_an_old_mlp_checkpoint_still_loads(tmp_path):
    model = ActorCritic(PolicyConfig(OBS_SIZE, N_ACTIONS, (16,)))
    path = save_checkpoint(tmp_path / "mlp.pt", model)
    payload = torch.load(path, weights_only=True)
    for key in ("arch", "drug_ids", "embed"):  # what a checkpoint written before the pairwise network lacks
        del payload["policy_config"][key]
    torch.save(payload, path)
    loaded, _ = load_checkpoint(path)
    assert loaded.config.arch == "mlp"
    obs = PolypharmacyEnv("classic").reset(seed=0, task_id="easy_screening").to_dict()
    assert model_policy(loaded)(obs, catalog=Catalog.load("classic"), rng=random.Random(0))["action_type"]


def test_policy_config_names_the_catalogs_drugs():
    catalog = Catalog.load("curated")
    config = policy_config(TrainConfig(arch="pairwise", catalog="curated"), catalog)
    assert config.drug_ids == tuple(sorted(catalog.drugs)) and config.obs_size == OBS_SIZE + LEARNER_EXTRAS
    with pytest.raises(ValueError, match="arch"):
        TrainConfig(arch="transformer")


def test_the_review_pages_top_actions_read_a_pairwise_checkpoint(tiny_runs):
    from agents.learned import policy_top_actions

    policy = model_policy(tiny_runs[0].model)
    catalog = Catalog.load("classic")
    obs = PolypharmacyEnv(catalog).reset(seed=10001, task_id="budgeted_screening").to_dict()
    top = policy_top_actions(policy, obs, catalog, 3)
    assert len(top) == 3 and top[0]["p"] >= top[1]["p"] >= top[2]["p"]
    assert top[0]["action"] == policy(obs, catalog=catalog, rng=random.Random(0))  # the greedy suggestion first
