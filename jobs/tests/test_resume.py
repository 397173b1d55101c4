"""A training job whose worker is lost goes on, in its next attempt, from the learner's state the
last attempt saved (agents.learning.resume, jobs.models.TrainingState), and ends with exactly the
parameters of a run that never stopped. (A worker really killed: test_worker.py.)"""

from __future__ import annotations

import pytest
import torch

from agents.learning.policy import load_checkpoint
from agents.learning.resume import from_bytes
from jobs import services
from jobs.context import JobContext
from jobs.models import Checkpoint, Job, TrainingState
from jobs.selectors import checkpoint_path

pytestmark = pytest.mark.django_db

# Six updates of 16 envs × 64 steps, both tasks' evaluations on the way.
TRAIN = {"task_id": "all", "catalog": "classic", "total_steps": 6 * 1024, "hidden": [32], "eval_every": 2,
         "test_episodes": 3}


def params_of(name: str) -> dict[str, torch.Tensor]:
    return load_checkpoint(checkpoint_path(name))[0].state_dict()


@pytest.mark.slow
def test_a_retried_training_job_goes_on_from_its_saved_state_to_the_same_parameters(classic, rex, settings,
                                                                                    monkeypatch):
    settings.JOBS_RESUME_EVERY_S = 0  # a save after every update
    whole = services.job_create(kind="train_policy", params={**TRAIN, "checkpoint_name": "whole"}, owner=rex)
    assert services.job_execute(job_id=whole.pk, worker="w1:1").status == "succeeded"
    assert not TrainingState.objects.exists()  # a finished job keeps no state

    job = services.job_create(kind="train_policy", params={**TRAIN, "checkpoint_name": "resumed"}, owner=rex)
    real_keep = JobContext.keep_resume_state

    def keep_then_lose_the_worker(ctx, update, state):
        saved = real_keep(ctx, update, state)
        if update == 3:  # the reaper takes the job from this worker, as when its beats stop
            Job.objects.filter(pk=ctx.job_id).update(status="queued", worker="", celery_task_id="")
        return saved

    monkeypatch.setattr(JobContext, "keep_resume_state", keep_then_lose_the_worker)
    first = services.job_execute(job_id=job.pk, worker="w1:1")
    assert first.status == "queued" and first.attempts == 1
    saved = TrainingState.objects.get(job=job)
    assert saved.update == 3 and saved.saved_by == "w1:1" and from_bytes(bytes(saved.content))["update"] == 3
    monkeypatch.undo()

    second = services.job_execute(job_id=job.pk, worker="w2:1")  # another worker, another machine
    assert second.status == "succeeded", second.error
    assert second.attempts == 2 and "resuming from update 3 (step 3072), saved by w1:1" in second.log
    assert not TrainingState.objects.exists()
    whole_params, resumed_params = params_of("whole"), params_of("resumed")
    assert whole_params.keys() == resumed_params.keys()
    assert all(torch.equal(whole_params[k], resumed_params[k]) for k in whole_params)
    # The curve is whole too: one point per update, as in the run that never stopped.
    assert [p["step"] for p in second.series] == [p["step"] for p in Job.objects.get(pk=whole.pk).series]
    assert Checkpoint.objects.get(name="resumed").metrics["test"] == Checkpoint.objects.get(name="whole").metrics["test"]


def test_an_unreadable_saved_state_starts_the_training_afresh(classic, rex, settings):
    job = services.job_create(kind="train_policy", params={**TRAIN, "total_steps": 1024}, owner=rex)
    TrainingState.objects.create(job=job, content=b"not a state", update=1, steps=1024, saved_by="w1:1")
    done = services.job_execute(job_id=job.pk, worker="w2:1")
    assert done.status == "succeeded" and "cannot be read" in done.log and "starting from the beginning" in done.log


def test_a_state_is_saved_only_by_the_worker_that_owns_the_job(classic, rex, settings):
    settings.JOBS_RESUME_EVERY_S = 0
    job = services.job_create(kind="train_policy", params=TRAIN, owner=rex)
    Job.objects.filter(pk=job.pk).update(status="running", worker="someone-else:1")
    ctx = JobContext(Job.objects.get(pk=job.pk), "me:1")
    assert ctx.keep_resume_state(1, lambda: {"steps": 1}) is False and not TrainingState.objects.exists()
