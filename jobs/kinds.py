"""The kinds of job: for each, its parameter serializer, its runner and its queue.

Runners are plain functions ``runner(params: dict, ctx) -> dict`` (the result JSON) living next
to the code they drive (``agents.runners``, ``bandits.runners``); they import nothing from
Django and talk to the site only through ``ctx`` (``jobs.context.JobContext``). Long, CPU-bound
kinds go to the ``training`` queue so a dedicated worker can take them (README, Jobs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from django.utils.module_loading import import_string


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str
    serializer_path: str
    runner_path: str
    queue: str = "celery"
    max_attempts: int = 2

    @property
    def serializer(self) -> Any:
        return import_string(self.serializer_path)

    @property
    def runner(self) -> Callable[[dict, Any], dict]:
        return import_string(self.runner_path)


KINDS: dict[str, JobKind] = {k.name: k for k in (
    JobKind("train_policy", "Policy training", "jobs.params.TrainPolicyParams", "agents.runners.run_train_policy",
            queue="training"),
    JobKind("evaluate", "Evaluation", "jobs.params.EvaluateParams", "agents.runners.run_evaluate"),
    # An LLM call is not retried after a lost worker: a second attempt would spend the key again.
    JobKind("llm_suggest", "LLM suggestion", "jobs.params.LLMSuggestParams", "agents.runners.run_llm_suggest",
            max_attempts=1),
    JobKind("bandit_train", "Bandit training (OptimNeuralTS)", "bandits.params.BanditTrainParams",
            "bandits.runners.run_bandit_train", queue="training"),
    JobKind("bandit_screen", "Bandit screening", "bandits.params.BanditScreenParams",
            "bandits.runners.run_bandit_screen"),
    # Creates its runs, then waits for them off any worker (jobs.sweeps): a light job.
    JobKind("sweep", "Training sweep (seeds × grid)", "jobs.sweeps.SweepParams", "jobs.sweeps.run_sweep"),
)}
