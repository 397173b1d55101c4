"""PolypharmacyEnv on Ray RLlib: PPO with action masking, scaled out over env runners.

Runs in the RL stack's venv (ray is not a site dependency: ``bin/openenv-clients rl-stack``), with
the checkout on the path:

    PYTHONPATH=. .venv-rl-stack/bin/python -m agents.rllib --task budgeted_screening --catalog curated \\
        --env-runners 4 --iterations 50

starts a Ray cluster on this machine and trains; ``--address auto`` (or ``ray://host:10001``)
runs the same command on an existing Ray cluster, shipping the checkout to its nodes as the job's
working directory. Each iteration prints one JSON line (iteration, steps sampled, the mean
episode return, the mean grader score of the episodes it finished); ``--checkpoint DIR`` saves
the algorithm at the end.

Masking is RLlib's own for the new API stack: the environment is registered with Tune as
``RLLIB_ENV`` (``rllib_register``), each copy the Gymnasium id of the task and catalog wrapped in
``envcore.gym_wrappers.MaskInObservation``, and the policy is RLlib's ``ActionMaskingTorchRLModule``,
which drops masked actions' logits. Everything is read from the declared spaces.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.examples.rl_modules.classes.action_masking_rlm import ActionMaskingTorchRLModule
from ray.tune.registry import register_env

from envcore.catalog import CATALOG_NAMES, TASK_IDS
# Importing envcore registers the Gymnasium ids, in every Ray worker process too (each one
# imports this module to unpickle masked_env).
from envcore.gym_registry import GYM_ENV_IDS
from envcore.gym_wrappers import MaskInObservation

RLLIB_ENV = "PolypharmacyEnv-masked"
ROOT = Path(__file__).resolve().parent.parent
# Never shipped to a cluster with the working directory: virtualenvs, run data, git.
SHIP_EXCLUDES = [".git", ".venv", ".venv-*", "var", "ci-artifacts", "**/__pycache__"]


def masked_env(env_config: dict[str, Any]) -> gym.Env:
    """One masked copy of the environment: ``env_config`` names ``task_id`` and ``catalog``."""
    env_id = GYM_ENV_IDS[(env_config.get("task_id", "budgeted_screening"), env_config.get("catalog", "curated"))]
    return MaskInObservation(gym.make(env_id))


def rllib_register() -> None:
    """Make ``RLLIB_ENV`` known to Ray Tune (and so to RLlib's ``config.environment``)."""
    register_env(RLLIB_ENV, masked_env)


class GraderScore(RLlibCallback):
    """Logs each finished episode's grader score (the adapter's last info) as ``grader_score``."""

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        infos = episode.get_infos()
        score = infos[-1].get("grader_score") if infos else None
        if metrics_logger is not None and score is not None:
            metrics_logger.log_value("grader_score", float(score), reduce="mean")


def ppo_config(*, task_id: str, catalog: str, env_runners: int, train_batch: int = 512, minibatch: int = 128,
               epochs: int = 4, lr: float = 3e-4, hidden: int = 256, seed: int = 0) -> PPOConfig:
    """PPO on the masked environment with ``env_runners`` sampling processes (0: in the driver)."""
    return (
        PPOConfig()
        .environment(RLLIB_ENV, env_config={"task_id": task_id, "catalog": catalog})
        .env_runners(num_env_runners=env_runners, num_envs_per_env_runner=1, num_cpus_per_env_runner=1)
        .training(train_batch_size_per_learner=train_batch, minibatch_size=minibatch, num_epochs=epochs, lr=lr)
        .rl_module(rl_module_spec=RLModuleSpec(
            module_class=ActionMaskingTorchRLModule,
            model_config={"head_fcnet_hiddens": [hidden, hidden], "head_fcnet_activation": "relu"},
        ))
        .callbacks(GraderScore)
        .debugging(seed=seed)
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def iteration_summary(iteration: int, result: dict[str, Any]) -> dict[str, Any]:
    runners = result.get("env_runners", {})
    return {
        "iteration": iteration,
        "env_steps_sampled": runners.get("num_env_steps_sampled_lifetime"),
        "episodes": runners.get("num_episodes_lifetime"),
        "episode_return_mean": _number(runners.get("episode_return_mean")),
        "grader_score_mean": _number(runners.get("grader_score")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=TASK_IDS, default="budgeted_screening")
    parser.add_argument("--catalog", choices=CATALOG_NAMES, default="curated")
    parser.add_argument("--env-runners", type=int, default=2, help="sampling processes (default 2)")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--train-batch", type=int, default=512, help="environment steps per iteration")
    parser.add_argument("--minibatch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--address", default=None,
                        help="an existing Ray cluster (auto, ray://host:10001); default: start one on this machine")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the cluster started here (default: all)")
    parser.add_argument("--checkpoint", default=None, help="save the trained algorithm to this folder at the end")
    args = parser.parse_args(argv)
    if args.env_runners < 0 or args.iterations < 1:
        parser.error("--env-runners must be 0 or more and --iterations 1 or more")

    if args.address:
        # The cluster's nodes get the checkout as the job's working directory (fixtures included).
        ray.init(address=args.address, runtime_env={"working_dir": str(ROOT), "excludes": SHIP_EXCLUDES})
    else:
        # A cluster on this machine: its worker processes import the checkout from PYTHONPATH.
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    rllib_register()
    algorithm = ppo_config(task_id=args.task, catalog=args.catalog, env_runners=args.env_runners,
                           train_batch=args.train_batch, minibatch=args.minibatch, epochs=args.epochs,
                           seed=args.seed).build_algo()
    try:
        for iteration in range(1, args.iterations + 1):
            print(json.dumps(iteration_summary(iteration, algorithm.train())), flush=True)
        if args.checkpoint:
            algorithm.save_to_path(str(Path(args.checkpoint).resolve()))
    finally:
        algorithm.stop()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
