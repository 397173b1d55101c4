"""The Gymnasium adapter."""

import numpy as np
from gymnasium.utils.env_checker import check_env

from envcore.gym_env import FINISH_ACTION, N_ACTIONS, N_QUERY, PAIRS, PolypharmacyGymEnv


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
