"""The Gymnasium adapter."""

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envcore import GYM_ENV_IDS
from envcore.gym_env import FINISH_ACTION, N_ACTIONS, N_QUERY, PAIRS, PolypharmacyGymEnv
from envcore.gym_wrappers import MaskInObservation

ROOT = Path(__file__).resolve().parents[2]


def test_the_adapter_passes_gymnasiums_env_checker():
    check_env(PolypharmacyGymEnv("classic"), skip_render_check=True)
    check_env(PolypharmacyGymEnv("curated", task_id="complex_tradeoff"), skip_render_check=True)


def test_masked_random_play_always_ends_with_a_grade():
    env = PolypharmacyGymEnv("curated")
    rng = np.random.default_rng(0)
    for episode in range(30):
        obs, info = env.reset(seed=episode)
        done = False
        while not done:
            mask = info["action_mask"]
            assert mask.shape == (N_ACTIONS,) and mask[FINISH_ACTION] == 1
            action = int(rng.choice(np.flatnonzero(mask)))
            obs, reward, terminated, truncated, info = env.step(action)
            assert env.observation_space.contains(obs)
            assert env.env.observation is not None
            assert env.env.observation.last_action_error is None  # the mask only allows valid actions
            done = terminated or truncated
        assert 0.001 <= info["grader_score"] <= 0.999


def test_the_mask_excludes_queried_pairs_and_spent_budgets():
    env = PolypharmacyGymEnv("classic", task_id="easy_screening")
    _, info = env.reset(seed=0)
    first = int(np.flatnonzero(info["action_mask"][:N_QUERY])[0])
    _, _, _, _, info = env.step(first)
    assert info["action_mask"][first] == 0
    for _ in range(3):
        _, _, _, _, info = env.step(int(np.flatnonzero(info["action_mask"][:N_QUERY])[0]))
    assert not info["action_mask"][:N_QUERY].any()  # four queries: the easy budget is spent


def test_the_same_seed_replays_the_same_episode():
    def run():
        env = PolypharmacyGymEnv("curated")
        obs, info = env.reset(seed=7)
        out = [obs]
        for _ in range(5):
            action = int(np.flatnonzero(info["action_mask"])[0])
            obs, _, term, trunc, info = env.step(action)
            out.append(obs)
            if term or trunc:
                break
        return np.stack(out)

    assert np.array_equal(run(), run())


def test_query_actions_cover_every_slot_pair():
    assert len(PAIRS) == N_QUERY == 105


# ── registration, masks for sb3-contrib, constant info keys, vector envs (issue 16, point 4) ──
@pytest.mark.parametrize("task_id, catalog", sorted(GYM_ENV_IDS))
def test_each_task_and_catalog_has_a_gymnasium_id_that_makes_that_environment(task_id, catalog):
    env = gym.make(GYM_ENV_IDS[(task_id, catalog)])
    adapter = env.unwrapped
    assert isinstance(adapter, PolypharmacyGymEnv)
    assert (adapter.task_id, adapter.env.catalog.name) == (task_id, catalog)
    _, info = env.reset(seed=3)
    assert adapter.env.task.task_id == task_id
    check_env(adapter, skip_render_check=True)


def test_the_ids_read_as_the_task_and_catalog():
    assert GYM_ENV_IDS[("easy_screening", "classic")] == "PolypharmacyEnv/EasyScreening-classic-v0"
    assert GYM_ENV_IDS[("complex_tradeoff", "curated")] == "PolypharmacyEnv/ComplexTradeoff-curated-v0"


def test_gymnasium_make_with_the_module_prefix_needs_no_import_line():
    code = ("import gymnasium\nenv = gymnasium.make('envcore:PolypharmacyEnv/BudgetedScreening-curated-v0')\n"
            "obs, info = env.reset(seed=0)\nprint(env.unwrapped.task_id, obs.shape == env.observation_space.shape)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["budgeted_screening", "True"], out.stderr[-2000:]


def test_info_has_the_same_keys_at_every_step_from_the_reset_on():
    env = gym.make("PolypharmacyEnv/EasyScreening-curated-v0")
    _, info = env.reset(seed=1)
    keys, done = set(info), False
    assert info["grader_score"] == 0.0
    while not done:
        _, _, terminated, truncated, info = env.step(int(np.flatnonzero(info["action_mask"])[-1]))
        assert set(info) == keys
        done = terminated or truncated
    assert 0.001 <= info["grader_score"] <= 0.999


def test_action_masks_is_the_info_mask_as_booleans_through_gymnasiums_wrappers():
    env = gym.make("PolypharmacyEnv/BudgetedScreening-classic-v0")
    _, info = env.reset(seed=2)
    masks = env.get_wrapper_attr("action_masks")()  # how sb3's vector envs reach it
    assert isinstance(env.action_space, gym.spaces.Discrete)
    assert masks.dtype == np.bool_ and masks.shape == (env.action_space.n,)
    np.testing.assert_array_equal(masks, info["action_mask"].astype(bool))


def test_a_vector_env_made_by_gymnasium_steps_its_copies_with_their_masks():
    envs = gym.make_vec("PolypharmacyEnv/EasyScreening-classic-v0", num_envs=3, vectorization_mode="sync")
    obs, infos = envs.reset(seed=0)
    assert envs.single_observation_space.shape is not None
    assert isinstance(envs.single_action_space, gym.spaces.Discrete)
    assert obs.shape == (3, *envs.single_observation_space.shape)
    for _ in range(8):
        actions = [int(np.flatnonzero(mask)[0]) for mask in infos["action_mask"]]
        obs, rewards, terminated, truncated, infos = envs.step(np.asarray(actions))
        assert infos["action_mask"].shape == (3, envs.single_action_space.n)
        assert infos["grader_score"].shape == (3,)
    envs.close()


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version")  # checking the wrapper is the point
def test_the_mask_in_the_observation_is_the_info_mask_in_the_declared_dict_space():
    env = MaskInObservation(gym.make("PolypharmacyEnv/ComplexTradeoff-curated-v0"))
    obs, info = env.reset(seed=4)
    for _ in range(5):
        assert env.observation_space.contains(obs)
        np.testing.assert_array_equal(obs["action_mask"], info["action_mask"].astype(np.float32))
        obs, _, _, _, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
    check_env(env, skip_render_check=True)
