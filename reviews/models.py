"""Review sessions (an episode driven by a pharmacist through the pages) and the audit trail.

The audit trail is one global hash chain: each record's ``hash`` covers its own fields and the
previous record's hash, so editing or deleting any record breaks the chain at that point
(``manage.py verify_audit``). ``AuditHead`` is the chain's tip: appends lock it, so two appends
can never fork the chain, and it lets the verifier notice that the newest records were deleted.
Migration 0002 adds database triggers that refuse UPDATE and DELETE on audit records.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from episodes.models import Episode

GENESIS_HASH = "0" * 64


class ReviewSession(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "in progress"
        FINISHED = "finished"
        APPROVED = "approved"
        RETURNED = "returned"

    SIGNED_OFF = (Status.APPROVED, Status.RETURNED)

    # PROTECT everywhere: a review session is clinical evidence; it outlives nothing it names.
    episode = models.OneToOneField(Episode, on_delete=models.PROTECT, related_name="review")
    pharmacist = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_sessions")
    catalog_name = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    sign_off_comment = models.TextField(blank=True)
    # A returned review is revised as a new session linked to it (reviews.revisions says why):
    # nullable and without a default, so adding it alters the table in place on SQLite, whose
    # rebuild would drop the signed-off rows' triggers.
    revision_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["pharmacist", "-created_at"], name="review_pharmacist_recent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["in_progress", "finished", "approved", "returned"]), name="review_status_valid"
            ),
            # Signed off exactly when someone signed it off.
            models.CheckConstraint(
                condition=Q(status__in=["approved", "returned"], signed_off_by__isnull=False, signed_off_at__isnull=False)
                | Q(status__in=["in_progress", "finished"], signed_off_by__isnull=True),
                name="review_signed_off_consistent",
            ),
            # One revision per returned review (a partial index: SQLite adds it in place).
            models.UniqueConstraint(fields=["revision_of"], condition=Q(revision_of__isnull=False),
                                    name="review_one_revision_each"),
        ]

    def __str__(self) -> str:
        return f"review {self.pk} ({self.status})"

    @property
    def is_signed_off(self) -> bool:
        return self.status in self.SIGNED_OFF


class AuditRecord(models.Model):
    class Action(models.TextChoices):
        SESSION_STARTED = "session.started"
        SESSION_VIEWED = "session.viewed"
        STEP_TAKEN = "step.taken"
        STEP_REJECTED = "step.rejected"
        SUGGESTION_SHOWN = "suggestion.shown"
        SUGGESTION_ACCEPTED = "suggestion.accepted"
        SUGGESTION_IGNORED = "suggestion.ignored"
        SESSION_FINISHED = "session.finished"
        SESSION_APPROVED = "session.approved"
        SESSION_RETURNED = "session.returned"
        ACCOUNT_LOCKED = "account.locked"
        # A download of /research/'s rows: the data leave the site, pseudonymised, not anonymous.
        RESEARCH_EXPORTED = "research.exported"
        SESSION_REVISED = "session.revised"  # a returned review's revision started
        STEP_COMMENTED = "step.commented"  # a supervisor's comment on one step
        AUDIT_EXPORTED = "audit.exported"
        AUDIT_VERIFIED = "audit.verified"  # the chain check run from /audit/

    session = models.ForeignKey(ReviewSession, null=True, blank=True, on_delete=models.PROTECT, related_name="audit")
    # PROTECT: deactivate users instead of deleting them; the trail must keep naming them.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=160)
    action = models.CharField(max_length=32, choices=Action.choices)
    created_at = models.DateTimeField()
    ip = models.CharField(max_length=45, blank=True)  # text, not inet: hashed exactly as stored
    user_agent = models.CharField(max_length=400, blank=True)
    payload = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # Which AUDIT_KEY made ``hash`` (a fingerprint of the key, never the key); "" for the
    # records written before the chain was keyed, which were plain SHA-256 (reviews.audit).
    key_id = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["session", "id"], name="audit_session"),
            models.Index(fields=["action", "-id"], name="audit_action"),
        ]

    def __str__(self) -> str:
        return f"audit {self.pk} {self.action}"

    @property
    def payload_json(self) -> str:
        import json

        return json.dumps(self.payload, sort_keys=True, ensure_ascii=False)


class AuditHead(models.Model):
    """The chain's tip (one row, pk=1): the last record's id and hash, and the record count."""

    last_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="audithead_single_row")]
