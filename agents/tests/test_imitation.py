"""Behaviour cloning (agents.learning.imitation): the action index inverts the adapter's decoding,
cloning is deterministic, and a clone of the planner plays far above the random agent. Pure
Python: no database. (The export format is read in episodes/tests/test_export_episodes.py.)"""

from __future__ import annotations

import random

import torch

from agents.evaluate import evaluate
from agents.learning.agent import model_policy
from agents.learning.encoding import encode_observation
from agents.learning.imitation import CloneConfig, action_index, behaviour_clone, policy_demonstrations
from agents.normalised import references
from agents.oracle import OraclePolicy
from agents.policies import random_policy
from envcore.env import PolypharmacyEnv
from envcore.gym_env import decode_action


def test_the_action_index_inverts_the_adapters_decoding_for_every_allowed_action():
    env, rng = PolypharmacyEnv("curated"), random.Random(0)
    for seed in range(6):
        obs = env.reset(seed=seed, task_id="budgeted_screening")
        for _ in range(3):
            _vector, mask, slots = encode_observation(obs.to_dict(), env.catalog)
            for index in mask.nonzero()[0]:
                action = decode_action(int(index), slots).to_dict()
                assert action_index(action, slots) == index, action
            obs = env.step(random_policy(obs.to_dict(), catalog=env.catalog, rng=rng))
            if obs.done:
                break
    slots = ["DRUG_A", None, "DRUG_B"]
    assert action_index({"action_type": "query_ddi", "drug_id_1": "DRUG_A", "drug_id_2": "DRUG_X"}, slots) is None
    assert action_index({"action_type": "propose_intervention", "target_drug_id": "DRUG_X",
                         "intervention_type": "stop"}, slots) is None


def test_a_clone_of_the_planner_is_deterministic_and_far_above_random():
    demos = policy_demonstrations(OraclePolicy(), "classic", "easy_screening", range(100000, 100120), "planner")
    assert demos.episodes == 120 and demos.skipped == 0 and len(demos) > 240
    config = CloneConfig(hidden=(64, 64), epochs=25)
    first, second = behaviour_clone(demos, config), behaviour_clone(demos, config)
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name]), name
    assert first.losses[-1] < first.losses[0] / 2
    seeds = range(10000, 10030)
    score = evaluate(model_policy(first.model), "easy_screening", seeds, "classic")
    normalised = references("classic", "easy_screening", seeds).normalise(score.mean)
    assert normalised is not None and normalised > 0.8
    assert score.summary()["invalid_actions"] == 0
