"""Job runners for the agents: policy training, evaluation, LLM suggestion.

Each is ``runner(params: dict, ctx) -> result dict`` and imports nothing from Django: ``ctx`` (the
site's ``jobs.context.JobContext``, or any object with the same methods) reports progress and
metrics (``ctx.progress(fraction, stage, metrics)``), logs (``ctx.log``), resolves catalogs
(``ctx.catalog(name)``) and checkpoint names (``ctx.checkpoint_path(name)``), and registers the
files written under ``ctx.artifact_dir`` (``ctx.add_checkpoint``). ``params`` are already
validated (``jobs.params``)."""

from __future__ import annotations

from typing import Any

from agents.evaluate import Evaluation, evaluate
from agents.formatting import format_mean_interval, format_number
from agents.normalised import format_normalised, normalise_evaluation
from agents.stats import summary_interval
from envcore.env import PolypharmacyEnv

TEST_SEED_START = 10000


def evaluate_with_progress(policy: Any, *, catalog: Any, task_id: str, seeds: range, ctx: Any,
                           span: tuple[float, float] = (0.0, 1.0),
                           stage: str = "evaluating") -> tuple[Evaluation, dict[str, Any]]:
    """``agents.evaluate.evaluate`` with a progress report every few episodes, then the random
    agent's and the oracle's scores on the same seeds (the last fifth of ``span``). Returns the
    evaluation and its summary with the normalised score beside the mean."""
    lo, hi = span
    mid = lo + 0.8 * (hi - lo)
    every = max(1, len(seeds) // 50)

    def report(done: int, total: int) -> None:
        if done % every == 0 or done == total:
            ctx.progress(lo + (mid - lo) * done / total, f"{stage}: episode {done}/{total}")

    def report_reference(done: int, total: int) -> None:
        if done % every == 0 or done == total:
            ctx.progress(mid + (hi - mid) * done / total, f"{stage}: random and oracle references {done}/{total}")

    evaluation = evaluate(policy, task_id, seeds, catalog, on_episode=report)
    summary = {**normalise_evaluation(evaluation, catalog, on_seed=report_reference), "seed_start": seeds.start}
    return evaluation, summary


def run_train_policy(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Train a policy (PPO or REINFORCE), save it as a checkpoint, test it greedily on seeds
    10000… Progress: training 0–90 %, the test 90–100 %. The learning curve goes to the plots."""
    from agents.learning.agent import model_policy
    from agents.learning.ppo import TrainConfig, train

    catalog = ctx.catalog(params["catalog"])
    config = TrainConfig(
        algorithm=params["algorithm"], task_id=params["task_id"], catalog=params["catalog"], seed=params["seed"],
        total_steps=params["total_steps"], n_envs=params["n_envs"], lr=params["lr"], ent_coef=params["ent_coef"],
        hidden=tuple(params["hidden"]), eval_every=params["eval_every"], arch=params.get("arch", "mlp"),
    )
    ctx.log(f"training {config.algorithm} on {config.task_id} ({config.catalog}), {config.total_steps} steps, "
            f"seed {config.seed}")

    def point_of(entry: dict[str, Any]) -> dict[str, Any]:
        point = {k: entry[k] for k in ("step", "train_score", "train_return", "entropy", "wall_s") if k in entry}
        if "eval" in entry:
            point["eval"] = entry["eval"]
        return point

    def on_update(fraction: float, entry: dict[str, Any]) -> None:
        if "eval" in entry:
            ctx.log(f"step {entry['step']}: validation {', '.join(f'{t} {v:.3f}' for t, v in entry['eval'].items())}")
        ctx.progress(0.9 * fraction, f"training: step {entry['step']}/{config.total_steps}", point_of(entry))

    # A retried attempt (its worker was lost) goes on from where the last one saved its learner,
    # its curve so far included; a context without these (a bench's, a test's) starts afresh.
    resume_from = ctx.resume_state() if hasattr(ctx, "resume_state") else None
    for entry in (resume_from or {}).get("history", []):
        ctx.progress(0.9 * entry["step"] / config.total_steps, "resuming", point_of(entry))
    result = train(config, on_update, catalog=catalog, resume_from=resume_from,
                   on_resume_point=getattr(ctx, "keep_resume_state", None))
    policy = model_policy(result.model, greedy=True)
    test: dict[str, Any] = {}
    tasks = config.tasks()
    if params["test_episodes"]:
        seeds = range(TEST_SEED_START, TEST_SEED_START + params["test_episodes"])
        for k, task in enumerate(tasks):
            ev, summary = evaluate_with_progress(policy, catalog=catalog, task_id=task, seeds=seeds, ctx=ctx,
                                        span=(0.9 + 0.1 * k / len(tasks), 0.9 + 0.1 * (k + 1) / len(tasks)),
                                        stage=f"testing on {task}")
            test[task] = {**summary, "scores": ev.scores}
            ctx.log(f"test on {task}: {format_mean_interval(ev.mean, summary_interval(summary))} (95 % CI) over "
                    f"{len(seeds)} episodes, normalised {format_normalised(summary['normalised_score'])}")
    name = params.get("checkpoint_name") or f"{config.task_id}-{config.catalog}-s{config.seed}-job{ctx.job_id}"
    metrics = {**result.metrics, "test": {t: {k: v for k, v in r.items() if k != "scores"} for t, r in test.items()}}
    path = result.save(str(ctx.artifact_dir / "policy.pt"), extra_metrics={"test": metrics["test"]})
    ctx.add_checkpoint("policy", path, name=name, task_id=config.task_id, catalog=config.catalog, metrics=metrics)
    return {
        "checkpoint": name, "steps": result.steps, "wall_time_s": result.wall_time_s,
        "steps_per_s": result.steps / max(result.wall_time_s, 1e-9), "test": test,
        "final_eval": metrics.get("final_eval"), "config": config.to_dict(),
    }


def run_evaluate(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Any agent on a task and catalog over a seed range: per-episode results and the mean (± std,
    with its 95 % interval) of the grader score and risk reduction, and the mean steps used."""
    from agents.registry import policy_agent, policy_checkpoint, resolve_agent

    catalog = ctx.catalog(params["catalog"])
    spec = params["agent"]
    name = policy_checkpoint(spec)
    if name is not None:
        # Only stored checkpoints, by name: a job's parameters never name a file on the worker.
        policy, _ = resolve_agent(policy_agent(str(ctx.checkpoint_path(name))))
        label = spec
    else:
        policy, label = resolve_agent(spec)
    seeds = range(params["seed_start"], params["seed_start"] + params["episodes"])
    ctx.log(f"evaluating {label} on {params['task_id']} ({params['catalog']}), seeds {seeds.start}–{seeds.stop - 1}")
    ev, summary = evaluate_with_progress(policy, catalog=catalog, task_id=params["task_id"], seeds=seeds, ctx=ctx)
    ctx.log(f"mean score {format_mean_interval(ev.mean, summary_interval(summary))} (95 % CI), normalised "
            f"{format_normalised(summary['normalised_score'])} (random {format_number(summary['random_score'])}, "
            f"oracle {format_number(summary['oracle_score'])} on the same seeds)")
    return {"agent": label, "summary": summary, "per_episode": ev.to_dict()["per_episode"]}


def run_llm_suggest(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """One LLM suggestion for an observation: a stored episode's latest (``ctx.observation``), or
    a fresh episode's first. Falls back to the rule-based suggester (never fails on the LLM)."""
    from agents.llm import llm_suggest

    if params.get("episode_id"):
        observation, catalog_name = ctx.episode_observation(params["episode_id"])
        catalog = ctx.catalog(catalog_name)
    else:
        catalog = ctx.catalog(params["catalog"])
        env = PolypharmacyEnv(catalog)
        observation = env.reset(seed=params["seed"], task_id=params["task_id"]).to_dict()
    ctx.progress(0.1, "asking the LLM", force=True)
    suggestion = llm_suggest(observation, catalog=catalog, config=ctx.llm_config())
    ctx.log(f"suggestion from {suggestion.source}"
            + (f" ({suggestion.fallback_reason})" if suggestion.fallback_reason else ""))
    return {"episode_id": observation.get("episode_id"), "step_index": observation.get("step_index"),
            "patient_id": observation.get("patient_id"), "suggestion": suggestion.to_dict()}
