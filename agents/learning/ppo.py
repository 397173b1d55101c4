"""PPO with action masking on envcore's Gymnasium adapter in Gymnasium's SyncVectorEnv, fully seeded.

Two networks (``TrainConfig.arch``): "mlp", layers over the adapter's vector, and "pairwise"
(``agents.learning.pairwise``), drug and pair tokens with an interaction memory filled from the
query answers the training episodes get (after each update, so a rollout and its update see the
same memory), which ``bench/train_matrix.py`` reports.

Same ``TrainConfig`` (seed included) ⇒ bit-identical parameters: python ``random``, numpy and
torch are seeded from the config's seed, env patient seeds come from a numpy ``SeedSequence``
derived from it, action sampling and minibatch shuffles use a seeded ``torch.Generator``, and
torch runs single-threaded with deterministic algorithms.

    from agents.learning.ppo import TrainConfig, train
    result = train(TrainConfig(task_id="easy_screening", catalog="classic", total_steps=200_000))

Training patients are drawn with seeds in [TRAIN_SEED_LOW, 2**31 - 1): never the evaluation seeds
10000–10099 (note that a seed picks a patient from a finite pool, so the *patients* may repeat).
"""

from __future__ import annotations

import contextlib
import functools
import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from agents.learning import resume
from agents.learning.encoding import LEARNER_EXTRAS, drug_vocabulary, learner_extras
from agents.learning.policy import ARCHITECTURES, ActorCritic, Policy, PolicyConfig, save_checkpoint
from envcore.catalog import Catalog
from envcore.gym_env import FINISH_ACTION, N_ACTIONS, N_QUERY, OBS_SIZE, PolypharmacyGymEnv
from envcore.scenarios import TASKS

TRAIN_SEED_LOW = 100_000
TEST_SEEDS = range(10000, 10100)
VALIDATION_SEEDS = range(20000, 20050)  # periodic evaluation: held out from training and from the test seeds

ProgressCallback = Callable[[float, dict[str, Any]], None]


ALGORITHMS = ("ppo", "reinforce")


@dataclass
class TrainConfig:
    task_id: str = "easy_screening"  # a task id, or "all" (each episode picks a task at random)
    # "ppo": clipped surrogate, several epochs of minibatches per rollout. "reinforce": REINFORCE
    # with a learned baseline (the reference's learner): Monte-Carlo advantages (lambda = 1),
    # one full-batch gradient step per rollout, so the clipped ratio is exactly 1 and the update
    # is the plain policy gradient; gae_lambda, epochs, minibatch_size and clip are then unused.
    algorithm: str = "ppo"
    catalog: str = "classic"
    seed: int = 0
    total_steps: int = 200_000
    n_envs: int = 16
    n_steps: int = 64  # per env per rollout
    lr: float = 3e-4
    lr_anneal: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    epochs: int = 4
    minibatch_size: int = 256
    max_grad_norm: float = 0.5
    hidden: tuple[int, ...] = (256, 256)
    # "mlp": the adapter's vector through ``hidden``; "pairwise": drug and pair tokens
    # (agents.learning.pairwise) of width hidden[0], drugs embedded in ``embed`` numbers.
    arch: str = "mlp"
    embed: int = 32
    aux_coef: float = 0.5  # weight of the pairwise network's reward model loss
    eval_every: int = 10  # updates between validation evaluations (0: never)
    eval_seeds: tuple[int, ...] = tuple(VALIDATION_SEEDS)

    def tasks(self) -> tuple[str, ...]:
        return tuple(TASKS) if self.task_id == "all" else (self.task_id,)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["eval_seeds"] = list(self.eval_seeds)
        return d

    def __post_init__(self) -> None:
        if self.task_id != "all" and self.task_id not in TASKS:
            raise ValueError(f"Unknown task_id {self.task_id!r}")
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"Unknown arch {self.arch!r}; expected one of {', '.join(ARCHITECTURES)}")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"Unknown algorithm {self.algorithm!r}; expected one of {', '.join(ALGORITHMS)}")
        self.hidden = tuple(self.hidden)
        self.eval_seeds = tuple(self.eval_seeds)


@dataclass
class TrainResult:
    model: ActorCritic
    config: TrainConfig
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_time_s: float = 0.0
    steps: int = 0

    @property
    def metrics(self) -> dict[str, Any]:
        last_eval = next((h["eval"] for h in reversed(self.history) if "eval" in h), None)
        return {
            "steps": self.steps,
            "wall_time_s": self.wall_time_s,
            "final_train_score": self.history[-1].get("train_score") if self.history else None,
            "final_eval": last_eval,
            "curve": [
                {k: h[k] for k in ("step", "train_score", "train_return", "eval") if k in h} for h in self.history
            ],
        }

    def save(self, path: str, extra_metrics: dict[str, Any] | None = None):
        return save_checkpoint(path, self.model, train_config=self.config.to_dict(), metrics={**self.metrics, **(extra_metrics or {})})


@contextlib.contextmanager
def deterministic_torch() -> Iterator[None]:
    """One thread, deterministic algorithms; restores the previous settings afterwards."""
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(det)
        torch.set_num_threads(threads)


class TrainingGymEnv(PolypharmacyGymEnv):
    """The adapter as a training episode source: every reset draws the task (for multi-task) and
    a training patient seed from this env's own numpy Generator, so episodes replay from the
    training seed whoever resets it (the vector env's autoreset included). A ``seed`` passed to
    ``reset`` is ignored: the Generator is the seed."""

    def __init__(self, catalog: Catalog, tasks: tuple[str, ...], rng: np.random.Generator) -> None:
        super().__init__(catalog)
        self.tasks = tasks
        self.rng = rng
        self.current_task = ""
        # The query answers since the learner last read them (``TrainingVectorEnv.take_answers``).
        self.answers: list[tuple[str, str, str, str]] = []

    def step(self, action: int | np.integer[Any]) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        result = super().step(action)
        answer = self.env.observation.last_query_result if self.env.observation is not None else None
        if answer is not None and int(action) < N_QUERY:
            self.answers.append((answer.drug_id_1, answer.drug_id_2, answer.severity, answer.recommendation))
        return result

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        task = self.tasks[int(self.rng.integers(len(self.tasks)))]
        patient_seed = int(self.rng.integers(TRAIN_SEED_LOW, 2**31 - 1))
        self.current_task = task
        return super().reset(options={"task_id": task, "patient_seed": patient_seed})


class TrainingVectorEnv:
    """N ``TrainingGymEnv`` in Gymnasium's ``SyncVectorEnv`` with same-step autoreset (a finished
    episode's next observation is the new episode's first, its grade in ``final_info``), plus
    what the rollout reads: the current observations and action masks, and the task each
    episode ran. Each env's Generator comes from a SeedSequence of the training seed."""

    def __init__(self, catalog: Catalog | str, tasks: tuple[str, ...], n_envs: int, seed: int,
                 drug_index: dict[str, int] | None = None) -> None:
        catalog = catalog if isinstance(catalog, Catalog) else Catalog.load(catalog)
        # A pairwise learner (``PolicyConfig.drug_index``) reads the learner's extras after the vector.
        self.drug_index = drug_index
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_envs)]
        self.vector = SyncVectorEnv([partial(TrainingGymEnv, catalog, tasks, rng) for rng in rngs],
                                    copy=False, autoreset_mode=AutoresetMode.SAME_STEP)
        self.envs: list[TrainingGymEnv] = self.vector.envs  # type: ignore[assignment]  # made above
        obs: np.ndarray  # SyncVectorEnv leaves its observation and array types open
        obs, info = self.vector.reset()
        self.obs = np.zeros((n_envs, OBS_SIZE + (LEARNER_EXTRAS if self.drug_index is not None else 0)), dtype=np.float32)
        self._observe(obs)
        self.masks = info["action_mask"].astype(bool)

    def _observe(self, obs: np.ndarray) -> None:
        self.obs[:, :OBS_SIZE] = obs
        if self.drug_index is not None:
            for i, env in enumerate(self.envs):
                self.obs[i, OBS_SIZE:] = _extras(env, self.drug_index)

    def take_answers(self) -> list[tuple[int, int, str, str]]:
        """The query answers the environments received since the last call, drugs as the
        observation's indices (for ``PairwiseTrunk.remember``)."""
        out = []
        index = self.drug_index or {}
        unknown = len(index)  # a drug outside the vocabulary: learner_extras' last index
        for env in self.envs:
            out += [(index.get(a, unknown) + 1, index.get(b, unknown) + 1, sev, rec) for a, b, sev, rec in env.answers]
            env.answers.clear()
        return out

    @property
    def rngs(self) -> list[np.random.Generator]:
        return [env.rng for env in self.envs]

    @property
    def current_task(self) -> list[str]:
        return [env.current_task for env in self.envs]

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[str, float]]]:
        """(rewards, dones, finished episodes as (task, grader score)); obs/masks updated in place."""
        tasks = self.current_task  # before a finished episode's autoreset draws the next
        obs: np.ndarray  # the types SyncVectorEnv leaves open
        rewards: np.ndarray
        terminated: np.ndarray
        truncated: np.ndarray
        obs, rewards, terminated, truncated, info = self.vector.step(actions)
        dones = terminated | truncated
        self._observe(obs)
        self.masks[:] = info["action_mask"]
        finished = [(tasks[i], float(info["final_info"]["grader_score"][i])) for i in np.flatnonzero(dones)]
        return rewards.astype(np.float32), dones.astype(np.float32), finished


def _extras(env: PolypharmacyGymEnv, index: dict[str, int]) -> np.ndarray:
    observation = env.env.observation
    assert observation is not None
    return learner_extras(env.env.medication_slots(), observation, env.env.catalog, index)


def greedy_scores(
    model: ActorCritic, catalog: Catalog | str, task_id: str, seeds: Iterable[int]
) -> list[float]:
    """Grader scores of the greedy policy, one episode per seed (the seed picks the patient
    exactly as ``agents.evaluate`` does: ``patient_seed=seed``)."""
    env = PolypharmacyGymEnv(catalog)
    index = model.config.drug_index()
    scores = []
    for seed in seeds:
        obs, info = env.reset(options={"task_id": task_id, "patient_seed": int(seed)})
        while True:
            if index is not None:
                obs = np.concatenate([obs, _extras(env, index)])
            action = model.act(obs, info["action_mask"], greedy=True)
            obs, _r, terminated, truncated, info = env.step(int(action))  # one observation: an int
            if terminated or truncated:
                scores.append(float(info["grader_score"]))
                break
    return scores


def evaluate_greedy(model: ActorCritic, catalog: Catalog | str, tasks: Iterable[str], seeds: Iterable[int]) -> dict[str, float]:
    seeds = list(seeds)
    with torch.no_grad():
        return {t: statistics.fmean(greedy_scores(model, catalog, t, seeds)) for t in tasks}


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def policy_config(config: TrainConfig, catalog: Catalog) -> PolicyConfig:
    """The network a training configuration builds (the pairwise one learns the catalog's drugs)."""
    if config.arch == "pairwise":
        return PolicyConfig(OBS_SIZE + LEARNER_EXTRAS, N_ACTIONS, config.hidden, arch="pairwise",
                            drug_ids=drug_vocabulary(catalog), embed=config.embed)
    return PolicyConfig(OBS_SIZE, N_ACTIONS, config.hidden)


ResumeCallback = Callable[[int, Callable[[], dict[str, Any]]], None]


def train(
    config: TrainConfig,
    callback: ProgressCallback | None = None,
    *,
    log: Callable[[str], None] | None = None,
    catalog: Catalog | None = None,
    resume_from: dict[str, Any] | None = None,
    on_resume_point: ResumeCallback | None = None,
) -> TrainResult:
    """Train a masked actor-critic with PPO or REINFORCE. ``callback(fraction_done, metrics)``
    after each update. ``catalog`` overrides loading ``config.catalog`` from the fixtures (the
    site passes the database's catalog, curators' edits included).

    ``on_resume_point(update, state)`` is called between updates; ``state()`` builds the whole
    learner's state (``agents.learning.resume``) for a caller that wants to keep it, and
    ``resume_from`` (such a state, of the same config) goes on from it: the parameters at the end
    are those of a run that never stopped."""
    with deterministic_torch():
        return _train(config, callback, log, catalog, resume_from, on_resume_point)


@dataclass
class Rollout:
    """One rollout's buffers, (n_steps, n_envs, …), refilled in place every update."""

    obs: torch.Tensor
    masks: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor

    @classmethod
    def empty(cls, n_steps: int, n_envs: int, obs_size: int = OBS_SIZE) -> "Rollout":
        return cls(
            obs=torch.zeros((n_steps, n_envs, obs_size)),
            masks=torch.zeros((n_steps, n_envs, N_ACTIONS), dtype=torch.bool),
            actions=torch.zeros((n_steps, n_envs), dtype=torch.long),
            logp=torch.zeros((n_steps, n_envs)),
            values=torch.zeros((n_steps, n_envs)),
            rewards=torch.zeros((n_steps, n_envs)),
            dones=torch.zeros((n_steps, n_envs)),
        )


def _collect_rollout(model: ActorCritic, venv: TrainingVectorEnv, gen: torch.Generator, buf: Rollout,
                     ep_return: np.ndarray) -> tuple[list[tuple[str, float]], list[float]]:
    """Fill ``buf`` with one rollout of the sampling policy; (finished episodes as (task, grade),
    their returns). ``ep_return`` carries each env's running return across rollouts."""
    finished: list[tuple[str, float]] = []
    returns_done: list[float] = []
    model.eval()
    for t in range(buf.obs.shape[0]):
        obs_t = torch.from_numpy(venv.obs.copy())
        mask_t = torch.from_numpy(venv.masks.copy())
        with torch.no_grad():
            dist, value = model.distribution(obs_t, mask_t)
            action = dist.sample(gen)
            logp = dist.log_prob(action)
        buf.obs[t], buf.masks[t], buf.actions[t], buf.logp[t], buf.values[t] = obs_t, mask_t, action, logp, value
        rewards, dones, fin = venv.step(action.numpy())
        buf.rewards[t] = torch.from_numpy(rewards)
        buf.dones[t] = torch.from_numpy(dones)
        ep_return += rewards
        for i in np.flatnonzero(dones):
            returns_done.append(float(ep_return[i]))
            ep_return[i] = 0.0
        finished.extend(fin)
    return finished, returns_done


def _advantages(model: ActorCritic, venv: TrainingVectorEnv, buf: Rollout, gamma: float,
                gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns) by GAE. An episode's end (terminated or time limit: the time left is
    in the observation) is terminal, so nothing is bootstrapped across it."""
    n_steps, n_envs = buf.rewards.shape
    with torch.no_grad():
        _, next_value = model(torch.from_numpy(venv.obs.copy()), torch.from_numpy(venv.masks.copy()))
    adv = torch.zeros((n_steps, n_envs))
    last = torch.zeros(n_envs)
    for t in reversed(range(n_steps)):
        nv = next_value if t == n_steps - 1 else buf.values[t + 1]
        nonterminal = 1.0 - buf.dones[t]
        delta = buf.rewards[t] + gamma * nv * nonterminal - buf.values[t]
        last = delta + gamma * gae_lambda * nonterminal * last
        adv[t] = last
    return adv, adv + buf.values


def _optimise(model: ActorCritic, optim: torch.optim.Optimizer, gen: torch.Generator, config: TrainConfig,
              buf: Rollout, adv: torch.Tensor, ret: torch.Tensor, *, epochs: int,
              minibatch_size: int) -> dict[str, float]:
    """Epochs of clipped-surrogate minibatch steps on one rollout; the mean losses and diagnostics."""
    batch = adv.numel()
    b_obs, b_mask = buf.obs.reshape(batch, -1), buf.masks.reshape(batch, -1)
    b_act, b_logp = buf.actions.reshape(-1), buf.logp.reshape(-1)
    b_adv, b_ret = adv.reshape(-1), ret.reshape(-1)
    b_rew = buf.rewards.reshape(-1)
    model.train()
    stats = {"pg_loss": 0.0, "v_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0, "clipfrac": 0.0}
    n_mb = 0
    for _epoch in range(epochs):
        perm = torch.randperm(batch, generator=gen)
        for s in range(0, batch, minibatch_size):
            idx = perm[s:s + minibatch_size]
            logits, value, predicted = model.forward_all(b_obs[idx], b_mask[idx])
            aux = torch.zeros(()) if predicted is None else _reward_loss(predicted, b_act[idx], b_rew[idx])
            dist = Policy(logits)
            logp = dist.log_prob(b_act[idx])
            ratio = torch.exp(logp - b_logp[idx])
            mb_adv = b_adv[idx]
            mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
            pg_loss = torch.max(-mb_adv * ratio, -mb_adv * ratio.clamp(1 - config.clip, 1 + config.clip)).mean()
            entropy = dist.entropy(b_mask[idx]).mean()
            v_loss = 0.5 * ((value - b_ret[idx]) ** 2).mean()
            loss = pg_loss - config.ent_coef * entropy + config.vf_coef * v_loss + config.aux_coef * aux
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optim.step()
            with torch.no_grad():
                stats["pg_loss"] += float(pg_loss)
                stats["v_loss"] += float(v_loss)
                stats["entropy"] += float(entropy)
                stats["approx_kl"] += float(((ratio - 1) - torch.log(ratio)).mean())
                stats["clipfrac"] += float(((ratio - 1).abs() > config.clip).float().mean())
            n_mb += 1
    model.eval()
    return {k: v / max(n_mb, 1) for k, v in stats.items()}


REWARD_SCALE = 20.0  # step rewards are hundredths: scaled so their squared error is not negligible


def _reward_loss(predicted: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """Squared error of the predicted step reward of each action taken, finishes left out (their
    reward is the grade)."""
    taken = predicted.gather(1, actions.unsqueeze(1)).squeeze(1)
    steps = (actions != FINISH_ACTION).float()
    return (((taken - rewards) * REWARD_SCALE) ** 2 * steps).sum() / steps.sum().clamp(min=1.0)


def _log_update(log: Callable[[str], None], entry: dict[str, Any], n_updates: int) -> None:
    ev = entry.get("eval")
    log(
        f"update {entry['update']}/{n_updates} step {entry['step']} "
        f"train_score {entry.get('train_score', float('nan')):.3f} "
        f"entropy {entry['entropy']:.3f} kl {entry['approx_kl']:.4f} "
        f"eval {ev if ev is None else {k: round(v, 3) for k, v in ev.items()}} wall {entry['wall_s']:.0f}s"
    )


def _train(config: TrainConfig, callback: ProgressCallback | None, log: Callable[[str], None] | None,
           catalog: Catalog | None = None, resume_from: dict[str, Any] | None = None,
           on_resume_point: ResumeCallback | None = None) -> TrainResult:
    start = time.perf_counter()
    gen = seed_everything(config.seed)
    catalog = catalog if catalog is not None else Catalog.load(config.catalog)
    tasks = config.tasks()
    model = ActorCritic(policy_config(config, catalog))
    optim = torch.optim.Adam(model.parameters(), lr=config.lr, eps=1e-5)
    venv = TrainingVectorEnv(catalog, tasks, config.n_envs, config.seed, model.config.drug_index())
    batch = config.n_envs * config.n_steps
    # REINFORCE (TrainConfig.algorithm): Monte-Carlo advantages, one full-batch step per rollout.
    reinforce = config.algorithm == "reinforce"
    gae_lambda = 1.0 if reinforce else config.gae_lambda
    epochs = 1 if reinforce else config.epochs
    minibatch_size = batch if reinforce else config.minibatch_size
    n_updates = max(1, config.total_steps // batch)
    result = TrainResult(model=model, config=config)
    buf = Rollout.empty(config.n_steps, config.n_envs, model.config.obs_size)
    ep_return = np.zeros(config.n_envs)
    steps, done_updates = 0, 0
    if resume_from is not None:
        done_updates, steps, ep_return, result.history = resume.restore(resume_from, model=model, optim=optim,
                                                                         gen=gen, venv=venv)

    for update in range(done_updates + 1, n_updates + 1):
        if config.lr_anneal:
            for g in optim.param_groups:
                g["lr"] = config.lr * (1.0 - (update - 1) / n_updates)
        finished, returns_done = _collect_rollout(model, venv, gen, buf, ep_return)
        steps += batch
        adv, ret = _advantages(model, venv, buf, config.gamma, gae_lambda)
        stats = _optimise(model, optim, gen, config, buf, adv, ret, epochs=epochs, minibatch_size=minibatch_size)
        if config.arch == "pairwise":
            # After the update, so a rollout and the update on it see the same memory.
            model.pairwise.remember(venv.take_answers())
        entry: dict[str, Any] = {"update": update, "step": steps, **stats}
        if finished:
            entry["train_score"] = statistics.fmean(s for _, s in finished)
            entry["train_return"] = statistics.fmean(returns_done)
            entry["episodes"] = len(finished)
        if config.eval_every and (update % config.eval_every == 0 or update == n_updates) and config.eval_seeds:
            entry["eval"] = evaluate_greedy(model, catalog, tasks, config.eval_seeds)
        entry["wall_s"] = time.perf_counter() - start
        result.history.append(entry)
        if log is not None and ("eval" in entry or update == 1):
            _log_update(log, entry, n_updates)
        if callback is not None:
            callback(update / n_updates, entry)
        if on_resume_point is not None and update < n_updates:
            on_resume_point(update, functools.partial(
                resume.capture, update=update, steps=steps, model=model, optim=optim, gen=gen, venv=venv,
                ep_return=ep_return, history=result.history))
    result.steps = steps
    result.wall_time_s = time.perf_counter() - start
    return result
