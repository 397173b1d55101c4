"""Episodes and their steps (DESIGN §5).

An Episode row holds what the API and the pages filter on, and the envcore snapshot it was
reset to. Each accepted step appends one Step row, which carries the snapshot after it: the
episode continues from its latest step's snapshot, in any process. A step's write updates the
Episode row too, but only columns that no index covers (step count, risk, times), so PostgreSQL
updates it in place (a HOT update) instead of touching every index; the unique (episode, index)
constraint is what makes two concurrent steps on one episode serialize instead of both landing.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from catalog.models import TASK_IDS, CatalogSource
from envcore.contract import MAX_KEY_LENGTH


def new_episode_id() -> str:
    return uuid.uuid4().hex


class Episode(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        TERMINATED = "terminated"  # the review ended (finish_review)
        TRUNCATED = "truncated"  # the step limit ended it

    class Durability(models.TextChoices):
        # full: every step is committed durably. fast: training episodes may trade the last few
        # steps on a crash for throughput (e.g. synchronous_commit=off); review sessions stay full.
        FULL = "full"
        FAST = "fast"

    # Unique by a constraint, not unique=True: that would add a LIKE-pattern index on PostgreSQL,
    # one more index to update on every write, for a search nobody makes.
    episode_id = models.CharField(max_length=MAX_KEY_LENGTH, default=new_episode_id)
    catalog = models.ForeignKey(CatalogSource, on_delete=models.PROTECT, related_name="episodes")
    catalog_fingerprint = models.CharField(max_length=64, blank=True)
    task_id = models.CharField(max_length=32, choices=[(t, t) for t in TASK_IDS])
    patient_id = models.CharField(max_length=64)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="episodes"
    )
    anon_key = models.CharField(max_length=64, blank=True, help_text="The anonymous caller's session key.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    durability = models.CharField(max_length=8, choices=Durability.choices, default=Durability.FULL)
    step_count = models.PositiveIntegerField(default=0)
    # Live episodes push every step to their channel group (review pages watch them); others
    # skip the broadcast, which would cost a Redis round trip per step for nobody.
    live = models.BooleanField(default=False)
    # The one channel that may step this episode ("" any): "review" for a review session's
    # episode, whose every action goes through the review pages and their audit trail. A default
    # in the database too: the event loop's INSERT (episodes/async_store.py) does not name it.
    steps_via = models.CharField(max_length=16, blank=True, default="", db_default="")
    REVIEW_CHANNEL = "review"
    # The snapshot at reset (episodes stepped before 2026-12 kept their latest one here).
    snapshot = models.JSONField(default=dict, blank=True)
    baseline_risk = models.FloatField(default=0.0)
    current_risk = models.FloatField(default=0.0)
    grader_score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)  # raw UPDATEs must set it themselves
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            # "the caller's most recent open episode" (DESIGN §4), for users and anonymous callers:
            # the most recently started, by columns a step never changes (see the module's note).
            models.Index(fields=["owner", "status", "-created_at"], name="episode_owner_started"),
            models.Index(fields=["anon_key", "status", "-created_at"], name="episode_anon_started"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["episode_id"], name="episode_id_unique"),
            models.CheckConstraint(condition=Q(step_count__gte=0), name="episode_step_count_non_negative"),
            models.CheckConstraint(
                condition=Q(status__in=["open", "terminated", "truncated"]), name="episode_status_valid"
            ),
            models.CheckConstraint(condition=Q(durability__in=["full", "fast"]), name="episode_durability_valid"),
        ]

    def __str__(self) -> str:
        return self.episode_id


class Step(models.Model):
    # No index of its own: the unique (episode, index) constraint's index serves the episode's
    # steps, and an index is a write on every step.
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="steps", db_index=False)
    index = models.PositiveIntegerField(help_text="1 for the first step after reset.")
    # Unindexed for the same reason: only deleting a user looks steps up by actor.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False,
    )
    actor_label = models.CharField(max_length=160, blank=True, help_text='e.g. "anonymous", "api:alice".')
    action = models.JSONField()
    observation = models.JSONField()
    # The episode's envcore snapshot after this step (None on steps stored before 2026-12,
    # whose episode row kept the latest snapshot).
    snapshot = models.JSONField(null=True, blank=True)
    reward = models.FloatField()
    raw_reward = models.FloatField()
    done = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["episode", "index"]
        constraints = [
            models.UniqueConstraint(fields=["episode", "index"], name="step_unique_index_per_episode"),
            models.CheckConstraint(condition=Q(index__gte=1), name="step_index_from_1"),
        ]

    def __str__(self) -> str:
        return f"{self.episode_id}#{self.index}"


class ToolSession(models.Model):
    """An MCP session (OpenEnv's ``openenv/session/create``): the episode its tool calls act on.

    A row, not process memory, so any web process serves any session: a WebSocket attached with
    ``/ws?session_id=`` records the episode its reset starts, and tool calls naming the session
    (on any process) act on that episode."""

    session_id = models.CharField(max_length=64)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        help_text="Its creator; none for an anonymous session, which its unguessable id addresses.",
    )
    episode = models.ForeignKey(Episode, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session_id"], name="tool_session_id_unique")]

    def __str__(self) -> str:
        return self.session_id
