"""The kinds of job: for each, its parameter serializer, its runner, its presenter and its queue.

Runners are plain functions ``runner(params: dict, ctx) -> dict`` (the result JSON) living next
to the code they drive (``agents.runners``, ``bandits.runners``); they import nothing from
Django and talk to the site only through ``ctx`` (``jobs.context.JobContext``). Long, CPU-bound
kinds go to the ``training`` queue so a dedicated worker can take them (README, Jobs).

The jobs app declares its own kinds here; another app registers its kinds from its AppConfig's
``ready`` (``bandits.apps``), so this app never names the apps built on it."""

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
    presenter_path: str  # present(job, full=False) -> {"plots": [...], "tables": [...]} (jobs.presenters)
    queue: str = "celery"
    max_attempts: int = 2
    order: int = 100  # where the pages list it (the "New:" links, the filters)
    # Optional: headline(params, parts) -> str and subject(params) -> (task, who) for the jobs
    # list, where jobs.presenters' generic ones do not fit the kind's result.
    headline_path: str = ""
    subject_path: str = ""

    @property
    def serializer(self) -> Any:
        return import_string(self.serializer_path)

    @property
    def runner(self) -> Callable[[dict, Any], dict]:
        return import_string(self.runner_path)


KINDS: dict[str, JobKind] = {}


def job_kind_register(kind: JobKind) -> None:
    """Add a kind (again: replace it), keeping KINDS in the pages' order."""
    KINDS[kind.name] = kind
    ordered = sorted(KINDS.values(), key=lambda k: k.order)
    KINDS.clear()
    KINDS.update((k.name, k) for k in ordered)


for _kind in (
    JobKind("train_policy", "Policy training", "jobs.params.TrainPolicyParams", "agents.runners.run_train_policy",
            "jobs.presenters.present_train_policy", queue="training", order=10),
    JobKind("evaluate", "Evaluation", "jobs.params.EvaluateParams", "agents.runners.run_evaluate",
            "jobs.presenters.present_evaluate", order=20),
    # An LLM call is not retried after a lost worker: a second attempt would spend the key again.
    JobKind("llm_suggest", "LLM suggestion", "jobs.params.LLMSuggestParams", "agents.runners.run_llm_suggest",
            "jobs.presenters.present_llm_suggest", max_attempts=1, order=30),
    # Creates its runs, then waits for them off any worker (jobs.sweeps): a light job.
    JobKind("sweep", "Training sweep (seeds × grid)", "jobs.sweeps.SweepParams", "jobs.sweeps.run_sweep",
            "jobs.sweep_presenter.present_sweep", order=60),
):
    job_kind_register(_kind)
