"""Queued work (DESIGN §7): a Job row per piece of work, and the Checkpoints that jobs produce.

A Job's life: queued → running → succeeded | failed | cancelled. A running job's worker touches
``heartbeat_at`` every few seconds; a job whose heartbeat stops (its worker died) is re-queued
while it has attempts left, else marked failed (``jobs.services.job_reap_stale``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Job(models.Model):
    class Kind(models.TextChoices):
        TRAIN_POLICY = "train_policy", "Policy training"
        EVALUATE = "evaluate", "Evaluation"
        LLM_SUGGEST = "llm_suggest", "LLM suggestion"
        BANDIT_TRAIN = "bandit_train", "Bandit training (OptimNeuralTS)"
        BANDIT_SCREEN = "bandit_screen", "Bandit screening"
        SWEEP = "sweep", "Training sweep (seeds × grid)"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=32, choices=Kind.choices)
    params = models.JSONField(default=dict, help_text="Validated parameters (defaults filled in).")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0, help_text="0–100")
    stage = models.CharField(max_length=200, blank=True, help_text="What the job is doing now.")
    series = models.JSONField(default=list, blank=True, help_text="Metrics over time (plotted).")
    result = models.JSONField(null=True, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    queue = models.CharField(max_length=32, default="celery")
    celery_task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the worker running it.")
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=2)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When its newest message went to the broker: a queued job whose message is this old is sent
    # again (the message may have died with a worker or a broker; jobs.services.job_dispatch_unsent).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # A sweep's runs point to it (jobs.sweeps).
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=100), name="job_progress_0_100"),
            models.CheckConstraint(condition=Q(status__in=["queued", "running", "succeeded", "failed", "cancelled"]),
                                   name="job_status_valid"),
            models.CheckConstraint(condition=Q(kind__in=["train_policy", "evaluate", "llm_suggest", "bandit_train",
                                                         "bandit_screen", "sweep"]), name="job_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} ({self.kind}, {self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def duration_s(self) -> float | None:
        if not self.started_at:
            return None
        from django.utils import timezone

        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()


class Checkpoint(models.Model):
    """A trained model a job produced: a policy (usable as an agent) or a bandit (usable by the
    /bandit endpoints). The file lives under ``settings.JOBS_ARTIFACT_DIR``."""

    class Kind(models.TextChoices):
        POLICY = "policy"
        BANDIT = "bandit"

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="checkpoints")
    path = models.CharField(max_length=500, help_text="Relative to the artefact folder.")
    task_id = models.CharField(max_length=64, blank=True)
    catalog = models.CharField(max_length=64, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(kind__in=["policy", "bandit"]), name="checkpoint_kind_valid")]

    def __str__(self) -> str:
        return self.name


class CheckpointFile(models.Model):
    """A checkpoint's file, in the database, so that any web or worker process on any machine
    reads it with only the database shared (``jobs.storage``). Each machine's
    JOBS_ARTIFACT_DIR holds its local copies."""

    checkpoint = models.OneToOneField(Checkpoint, primary_key=True, on_delete=models.CASCADE, related_name="file")
    content = models.BinaryField()
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    stored_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"file of {self.checkpoint_id} ({self.size:,} bytes)"


class TrainingState(models.Model):
    """The newest saved state of a running training job's learner (``agents.learning.resume``),
    in the database so that the attempt after a lost worker, on any machine, goes on from it.
    Gone when the job ends."""

    job = models.OneToOneField(Job, primary_key=True, on_delete=models.CASCADE, related_name="training_state")
    content = models.BinaryField()
    update = models.PositiveIntegerField(help_text="Updates done when it was saved.")
    steps = models.PositiveBigIntegerField()
    saved_at = models.DateTimeField(auto_now=True)
    saved_by = models.CharField(max_length=200, help_text="The worker that saved it.")

    def __str__(self) -> str:
        return f"training state of job {self.job_id} after update {self.update}"
