"""Runs inside .venv-rl-stack (``bin/openenv-clients rl-stack``) with the checkout on PYTHONPATH:
the RL researcher's own libraries, unmodified, against the project. One check per call, a JSON
summary on stdout for agents/tests/test_rl_stack.py (exit 1 with the reason on stderr when a check
fails):

    gym            gymnasium.make of every registered id, check_env, a masked episode each, an
                   AsyncVectorEnv from gymnasium.make_vec
    sb3            sb3-contrib's MaskablePPO trains 10,000 steps on gymnasium.make(id)
    minari ID      minari.load_dataset(ID) (under MINARI_DATASETS_PATH) and recover_environment();
                   Minari's own DataCollector records the registered env and reads it back
    trl            TRL's tool discovery of client/polypharmacy_env/trl.py (as GRPOTrainer does it)
                   and transformers.utils.get_json_schema on every tool; the GRPO example's config

RLlib has its own command, ``python -m agents.rllib``.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import time
import types
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

import envcore  # noqa: F401  (registers the Gymnasium ids)
from envcore.gym_env import PolypharmacyGymEnv
from envcore.gym_registry import GYM_ENV_IDS

ROOT = Path(__file__).resolve().parent.parent
SB3_ENV = "PolypharmacyEnv/EasyScreening-classic-v0"


def masked_episode(env: gym.Env, seed: int, pick: Callable[[np.ndarray, Any], int]) -> tuple[int, float]:
    """(steps, grader score) of one episode choosing ``pick(mask, obs)`` among allowed actions."""
    obs, info = env.reset(seed=seed)
    steps, done = 0, False
    while not done:
        obs, _, terminated, truncated, info = env.step(pick(info["action_mask"], obs))
        steps, done = steps + 1, terminated or truncated
    return steps, float(info["grader_score"])


def check_gym() -> dict[str, Any]:
    from gymnasium.utils.env_checker import check_env

    rng = np.random.default_rng(0)
    made = {}
    for (task_id, catalog), env_id in sorted(GYM_ENV_IDS.items()):
        env = gym.make(env_id)
        check_env(env.unwrapped, skip_render_check=True)
        steps, score = masked_episode(env, 0, lambda mask, _obs: int(rng.choice(np.flatnonzero(mask))))
        adapter = env.unwrapped
        assert isinstance(adapter, PolypharmacyGymEnv)
        made[env_id] = {"task_id": adapter.task_id, "catalog": adapter.env.catalog.name,
                        "steps": steps, "grader_score": score}
        assert (made[env_id]["task_id"], made[env_id]["catalog"]) == (task_id, catalog), made[env_id]
        assert 0.001 <= score <= 0.999, made[env_id]
    envs = gym.make_vec(SB3_ENV, num_envs=2, vectorization_mode="async")
    try:
        _, infos = envs.reset(seed=0)
        for _ in range(5):
            _, _, _, _, infos = envs.step(np.asarray([int(np.flatnonzero(m)[0]) for m in infos["action_mask"]]))
        vector = {"num_envs": envs.num_envs, "info_keys": sorted(k for k in infos if not k.startswith("_"))}
    finally:
        envs.close()
    return {"gymnasium": gym.__version__, "ids": made, "async_vector": vector}


def check_sb3() -> dict[str, Any]:
    import sb3_contrib
    import torch
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import is_masking_supported
    from stable_baselines3.common.env_util import make_vec_env

    # One thread: a small MLP gains nothing from more, and a busy machine loses much to contention.
    torch.set_num_threads(1)
    env = gym.make(SB3_ENV)
    assert is_masking_supported(env), "sb3-contrib finds no action_masks()"
    # Four copies in one process: the policy is asked once per four steps (the same 10k steps).
    train_env = make_vec_env(SB3_ENV, n_envs=4, seed=0)

    def greedy(model: Any) -> Callable[[np.ndarray, Any], int]:
        return lambda mask, obs: int(model.predict(obs, action_masks=mask.astype(bool), deterministic=True)[0])

    model = MaskablePPO("MlpPolicy", train_env, n_steps=256, batch_size=256, n_epochs=4, seed=0, verbose=0)
    seeds = range(10000, 10020)
    before = float(np.mean([masked_episode(env, s, greedy(model))[1] for s in seeds]))
    started = time.monotonic()
    model.learn(total_timesteps=10_000)
    seconds = time.monotonic() - started
    after = float(np.mean([masked_episode(env, s, greedy(model))[1] for s in seeds]))
    return {"sb3_contrib": sb3_contrib.__version__, "env_id": SB3_ENV, "num_timesteps": int(model.num_timesteps),
            "train_seconds": round(seconds, 1), "test_grader_score_before": before, "test_grader_score_after": after}


def check_minari(dataset_id: str) -> dict[str, Any]:
    import minari
    from minari import DataCollector

    dataset = minari.load_dataset(dataset_id)
    episodes = list(dataset.iterate_episodes())
    env = dataset.recover_environment()
    obs, info = env.reset(seed=0)
    assert env.observation_space == dataset.observation_space and env.action_space == dataset.action_space
    _, reward, _, _, _ = env.step(int(np.flatnonzero(info["action_mask"])[0]))
    read = {
        "minari": minari.__version__, "total_episodes": dataset.total_episodes, "total_steps": dataset.total_steps,
        "steps": [len(e) for e in episodes], "actions": [np.asarray(e.actions).tolist() for e in episodes],
        "info_keys": sorted({k for e in episodes for k in e.infos}),
        "observation_rows_match": all(len(e.observations) == len(e) + 1 for e in episodes),
        "recovered_env_id": env.spec.id if env.spec else None, "recovered_step_reward": float(reward),
    }
    # Minari's own recorder on the registered environment: it refuses info keys that change.
    collector = DataCollector(gym.make(dataset.env_spec.id), record_infos=True)
    rng = np.random.default_rng(1)
    for seed in range(3):
        masked_episode(collector, seed, lambda mask, _obs: int(rng.choice(np.flatnonzero(mask))))
    collected = collector.create_dataset(dataset_id="polypharmacy-collected-v0", algorithm_name="masked random",
                                         author="rl_stack_check")
    collector.close()
    again = minari.load_dataset("polypharmacy-collected-v0")
    read["collected"] = {"total_episodes": again.total_episodes, "env_id": again.env_spec.id,
                         "info_keys": sorted(next(again.iterate_episodes()).infos),
                         "recovers": again.recover_environment().reset(seed=0)[0].shape == env.observation_space.shape}
    del collected
    return read


def load_by_path(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def check_trl() -> dict[str, Any]:
    import tempfile

    import transformers
    import trl
    from transformers.utils import get_json_schema

    # The module alone, by path (the client package's __init__ is another part's and may need more).
    package = types.ModuleType("polypharmacy_env")
    package.__path__ = [str(ROOT / "client" / "polypharmacy_env")]
    sys.modules["polypharmacy_env"] = package
    module = load_by_path("polypharmacy_env.trl", ROOT / "client" / "polypharmacy_env" / "trl.py")
    instance = module.PolypharmacyToolEnv()  # TRL calls the factory with no argument
    assert "environment_factory" in inspect.signature(trl.GRPOTrainer.__init__).parameters
    # GRPOTrainer's own discovery: the class's functions; reset and get_reward are not tools.
    members = [name for name, _ in inspect.getmembers(type(instance), predicate=inspect.isfunction)]
    tools = [name for name in members if name not in ("reset", "get_reward") and not name.startswith("_")]
    schemas = {name: get_json_schema(getattr(instance, name)) for name in tools}
    assert "reset" in members and "get_reward" in members, members
    example = load_by_path("grpo_polypharmacy", ROOT / "client" / "examples" / "grpo_polypharmacy.py")
    with tempfile.TemporaryDirectory() as folder:
        config = example.training_config(example.arguments(["--model", "unused", "--output-dir", folder, "--no-bf16"]))
    data = example.episodes(["easy_screening"], 0, 2)
    return {"trl": trl.__version__, "transformers": transformers.__version__, "tools": tools, "schemas": schemas,
            "reward": instance.get_reward(), "example": {"max_tool_calling_iterations": config.max_tool_calling_iterations,
                                                        "columns": sorted(data.column_names), "rows": len(data)}}


def main(argv: list[str]) -> int:
    checks: dict[str, Callable[..., dict[str, Any]]] = {"gym": check_gym, "sb3": check_sb3, "minari": check_minari,
                                                        "trl": check_trl}
    if not argv or argv[0] not in checks:
        print(f"usage: rl_stack_check.py {{{','.join(checks)}}} [ARGS]", file=sys.stderr)
        return 2
    print(json.dumps(checks[argv[0]](*argv[1:]), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
