"""The masked PPO learner: masking, bit-identical seeded training, checkpoints, the wire encoder."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from agents.evaluate import evaluate
from agents.learning.agent import checkpoint_policy
from agents.learning.encoding import encode_observation
from agents.learning.policy import ActorCritic, PolicyConfig, load_checkpoint, save_checkpoint
from agents.learning.ppo import TrainConfig, TrainingVectorEnv, greedy_scores, train
from envcore.gym_env import FINISH_ACTION, N_ACTIONS, OBS_SIZE, PolypharmacyGymEnv

TINY: dict[str, Any] = dict(task_id="easy_screening", catalog="classic", total_steps=2048, n_envs=8, n_steps=64,
            hidden=(32, 32), epochs=2, minibatch_size=128, eval_every=0)


@pytest.fixture(scope="module")
def tiny_runs():
    a = train(TrainConfig(seed=1, **TINY))
    b = train(TrainConfig(seed=1, **TINY))
    c = train(TrainConfig(seed=2, **TINY))
    return a, b, c


def test_masked_actions_are_never_chosen():
    torch.manual_seed(0)
    model = ActorCritic(PolicyConfig(OBS_SIZE, N_ACTIONS, (32,)))
    # Make the masked actions the most attractive ones: they must still never be picked.
    with torch.no_grad():
        model.pi.bias[:] = torch.linspace(10, 0, N_ACTIONS)
    rng = np.random.default_rng(0)
    obs = rng.random((64, OBS_SIZE), dtype=np.float32)
    mask = np.zeros((64, N_ACTIONS), dtype=bool)
    for row in mask:
        row[rng.choice(N_ACTIONS, size=3, replace=False)] = True
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        sampled = model.act(obs, mask, greedy=False, generator=gen)
        assert mask[np.arange(64), sampled].all()
    greedy = model.act(obs, mask, greedy=True)
    assert mask[np.arange(64), greedy].all()
    assert isinstance(greedy, np.ndarray)  # a batch in, an array out
    assert model.act(obs[0], mask[0], greedy=True) == greedy[0]


def test_same_seed_gives_identical_parameters_and_another_seed_does_not(tiny_runs):
    a, b, c = tiny_runs
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert [h.get("train_score") for h in a.history] == [h.get("train_score") for h in b.history]


def test_progress_callback_reports_fractions():
    seen = []
    train(TrainConfig(seed=3, **{**TINY, "total_steps": 1024}), callback=lambda f, m: seen.append((f, m["step"])))
    assert [f for f, _ in seen] == [0.5, 1.0]
    assert seen[-1][1] == 1024


def test_checkpoint_round_trip_gives_identical_greedy_actions(tiny_runs, tmp_path):
    model = tiny_runs[0].model
    path = save_checkpoint(tmp_path / "ck.pt", model, train_config=tiny_runs[0].config.to_dict(), metrics={"x": 1.5})
    loaded, payload = load_checkpoint(path)
    assert payload["metrics"] == {"x": 1.5} and payload["obs_size"] == OBS_SIZE and payload["n_actions"] == N_ACTIONS
    assert payload["train_config"]["seed"] == 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    env = PolypharmacyGymEnv("classic", "budgeted_screening")
    for seed in range(5):
        obs, info = env.reset(options={"patient_seed": seed})
        done = False
        while not done:
            a1 = model.act(obs, info["action_mask"], greedy=True)
            assert a1 == loaded.act(obs, info["action_mask"], greedy=True)
            obs, _r, te, tr, info = env.step(a1)
            done = te or tr


@pytest.mark.parametrize("catalog", ["classic", "curated"])
def test_encode_observation_matches_the_adapter(catalog):
    rng = np.random.default_rng(7)
    checked = 0
    for task in ("easy_screening", "budgeted_screening", "complex_tradeoff"):
        env = PolypharmacyGymEnv(catalog, task)
        for seed in range(30):
            obs, info = env.reset(options={"patient_seed": seed})
            while True:
                assert env.env.observation is not None
                vec, mask, slots = encode_observation(env.env.observation.to_dict(), env.env.catalog)
                np.testing.assert_array_equal(vec, obs)
                np.testing.assert_array_equal(mask, info["action_mask"])
                assert slots == env.env.medication_slots()
                checked += 1
                if env.env.done:
                    break
                valid = np.flatnonzero(info["action_mask"])
                # Mostly valid actions (to reach substitutions, stops, repeated pairs), some invalid.
                action = int(rng.choice(valid)) if rng.random() < 0.9 else int(rng.integers(N_ACTIONS))
                obs, _r, _te, _tr, info = env.step(action)
    assert checked > 500


def test_checkpoint_policy_plays_like_the_gym_policy(tiny_runs, tmp_path):
    path = tiny_runs[0].save(str(tmp_path / "agent.pt"))
    policy = checkpoint_policy(path)
    assert policy.checkpoint["train_config"]["task_id"] == "easy_screening"
    seeds = range(10000, 10010)
    via_wire = evaluate(policy, "easy_screening", seeds, "classic")
    via_gym = greedy_scores(tiny_runs[0].model, "classic", "easy_screening", seeds)
    assert via_wire.scores == via_gym
    assert via_wire.summary()["invalid_actions"] == 0
    action = policy(PolypharmacyGymEnv("classic").env.reset(seed=1, task_id="easy_screening").to_dict(),
                    catalog=PolypharmacyGymEnv("classic").env.catalog, rng=random.Random(0))
    assert action["action_type"] in ("query_ddi", "propose_intervention", "finish_review")


def test_multi_task_training_evaluates_every_task():
    result = train(TrainConfig(seed=0, **{**TINY, "task_id": "all", "total_steps": 512, "eval_every": 1, "eval_seeds": (20000, 20001)}))
    assert set(result.history[-1]["eval"]) == {"easy_screening", "budgeted_screening", "complex_tradeoff"}
    assert result.metrics["final_eval"] == result.history[-1]["eval"]


def test_training_steps_gymnasiums_sync_vector_env_and_reports_each_finished_episode():
    venv = TrainingVectorEnv("classic", ("easy_screening", "complex_tradeoff"), 3, seed=5)
    assert isinstance(venv.vector, SyncVectorEnv) and venv.vector.autoreset_mode == AutoresetMode.SAME_STEP
    tasks = venv.current_task
    rewards, dones, finished = venv.step(np.full(3, FINISH_ACTION))
    assert dones.tolist() == [1.0, 1.0, 1.0] and [task for task, _ in finished] == tasks
    assert all(score >= 0.001 for _, score in finished) and rewards.dtype == np.float32
    # Same-step autoreset: the observations are the new episodes' first, drawn from each env's Generator.
    for env, obs, mask in zip(venv.envs, venv.obs, venv.masks):
        assert env.env.state.step_count == 0 and np.array_equal(obs, env._observe()[0])
        assert np.array_equal(mask, env.action_masks())
    again = TrainingVectorEnv("classic", ("easy_screening", "complex_tradeoff"), 3, seed=5)
    again.step(np.full(3, FINISH_ACTION))
    assert again.current_task == venv.current_task and np.array_equal(again.obs, venv.obs)
