"""``manage.py run_agent --agent random|heuristic|llm|oracle[:<width>]|policy:<checkpoint> [--url URL] [--task T|all]
[--catalog C] [--episodes N] [--seed S] [--token KEY]``: drive a running server over the OpenEnv
HTTP protocol and print the reference's ``[START]``/``[STEP]``/``[END]`` lines (``agents.remote``),
then, on stderr, each task's mean and normalised score (``agents.normalised``).

Exit status: 0 when every episode ran to its end (whatever its score); otherwise every episode
is still tried and printed, each failure is reported on stderr, and the command ends with a
CommandError (exit status 1) counting the failed episodes.
"""

from __future__ import annotations

import statistics
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.formatting import format_mean_interval, format_number
from agents.normalised import format_normalised, references
from agents.stats import values_interval
from agents.registry import AGENT_SPECS_HELP, resolve_agent
from agents.remote import DEFAULT_TIMEOUT_S, run_remote_episodes
from envcore.catalog import CATALOG_NAMES, DEFAULT_CATALOG, TASK_IDS
from jobs.selectors import checkpoint_path


def summary_line(label: str, task_id: str, catalog: str, results: list[dict[str, Any]]) -> str:
    """The task's mean score with its 95 % interval and its normalised score beside it, on the
    episodes that ran to their end (at least one). On stderr: stdout stays the reference's log, line for line."""
    done = [r for r in results if r["error"] is None]
    mean = statistics.fmean(r["score"] for r in done)
    refs = references(catalog, task_id, [r["seed"] for r in done])
    interval = values_interval(r["score"] for r in done)
    return (f"summary: {task_id} ({catalog}): {label} mean score {format_mean_interval(mean, interval)}"
            f"{' (95 % CI)' if interval else ''} over {len(done)} episodes, normalised "
            f"{format_normalised(refs.normalise(mean))} (random {format_number(refs.random)}, oracle "
            f"{format_number(refs.oracle)} on the same seeds; the oracle is a full-information planner)")


class Command(BaseCommand):
    help = (
        "Drive a running PolypharmacyEnv server over the OpenEnv HTTP protocol with an agent and print "
        "the reference inference log: [START] task=… env=polypharmacy_env model=…, one [STEP] line per "
        "step, and [END] success=… steps=… score=… rewards=…. Exits 1 if any episode failed (server "
        "unreachable, HTTP error): its [END] says success=false and stderr says why."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agent", required=True, help=f"The agent: {AGENT_SPECS_HELP}.")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The server's base URL.")
        parser.add_argument("--task", default="budgeted_screening",
                            help=f"One of {', '.join(TASK_IDS)}, or all (each in turn).")
        parser.add_argument("--catalog", default=DEFAULT_CATALOG,
                            help=f"One of {', '.join(CATALOG_NAMES)}; the local copy must match the server's.")
        parser.add_argument("--episodes", type=int, default=1, help="Episodes per task.")
        parser.add_argument("--seed", type=int, default=0, help="First seed: episodes use seeds S..S+N-1.")
        parser.add_argument("--token", default=None, help="An API token, sent as 'Authorization: Token <key>'.")
        parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="Seconds per request.")

    def handle(self, *args: Any, agent: str, url: str, task: str, catalog: str, episodes: int, seed: int,
               token: str | None, timeout: float, **options: Any) -> None:
        if task != "all" and task not in TASK_IDS:
            raise CommandError(f"--task must be one of {', '.join(TASK_IDS)} or all, not {task!r}.")
        if catalog not in CATALOG_NAMES:
            raise CommandError(f"--catalog must be one of {', '.join(CATALOG_NAMES)}, not {catalog!r}.")
        if episodes < 1:
            raise CommandError(f"--episodes must be at least 1, not {episodes}.")
        if seed < 0:
            raise CommandError(f"--seed must be 0 or more, not {seed}.")
        if timeout <= 0:
            raise CommandError(f"--timeout must be positive, not {timeout}.")
        if not url.startswith(("http://", "https://")):
            raise CommandError(f"--url must start with http:// or https://, not {url!r}.")
        try:
            policy, label = resolve_agent(agent, checkpoint_resolver=checkpoint_path)  # stored checkpoints by name or id
        except ValueError as exc:
            raise CommandError(f"--agent: {exc}") from None

        results = []
        seeds = range(seed, seed + episodes)
        for task_id in TASK_IDS if task == "all" else (task,):
            ran = run_remote_episodes(
                url, policy, task_id=task_id, catalog=catalog, seeds=seeds,
                model_label=label, out=self.stdout, err=self.stderr, token=token, timeout_s=timeout,
            )
            if any(r["error"] is None for r in ran):
                self.stderr.write(summary_line(label, task_id, catalog, ran))
            results += ran
        failed = [r for r in results if r["error"] is not None]
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} episodes failed; first: {failed[0]['error']}")
