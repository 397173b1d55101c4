"""Returned reviews and supervisors' comments: a returned review's pharmacist revises it, and a
supervisor comments on individual steps.

**A revision is a new session linked to the returned one, not the returned one reopened.** The
returned session is signed off: its row is immutable (a database trigger), its episode is
finished (an environment cannot take back an intervention or un-finish), and it is evidence that
the audit trail, the research rows and the sign-off name as it was. Reopening would rewrite that
evidence. A revision starts the same patient and task afresh as a new episode, so what the
supervisor asked to change (not stopping a needed drug, say) can be done differently from the
first step; its page shows the returned review's steps, the supervisor's comments and the reason
for the return, and it is finished ("re-submitted") and signed off like any review. Each
returned review has at most one revision (a unique index); a revision that is returned again
gets a revision of its own, so the chain reads revision 1, 2, 3….
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import IntegrityError, transaction

from envcore.errors import ValidationError
from episodes import services as episodes
from episodes.models import Episode
from accounts import permissions
from reviews.audit import RequestMeta, audit_append
from reviews.live import review_broadcast
from reviews.models import AuditRecord, ReviewSession
from reviews.services import DuplicateSubmission, ReviewError, _caller, _lock

Action = AuditRecord.Action
MAX_COMMENT = 2000


def review_revise(returned: ReviewSession, *, meta: RequestMeta) -> ReviewSession:
    """Start the revision of a returned review: a new live episode of the same patient, task and
    catalog, owned by the same pharmacist and linked to it. A second request gets the first's
    revision (``DuplicateSubmission``)."""
    user = meta.user
    if not permissions.allowed(user, "review.revise", owner_id=returned.pharmacist_id):
        raise ReviewError(permissions.refusal("review.revise"), status=403)
    with transaction.atomic():
        _lock(returned)
        existing = ReviewSession.objects.filter(revision_of=returned).only("pk").first()
        if existing is not None:
            raise DuplicateSubmission(f"This review is already being revised, as review {existing.pk}.",
                                      session_pk=existing.pk)
        if returned.status != ReviewSession.Status.RETURNED:
            raise ReviewError("Only a returned review can be revised.", status=409)
        episode = returned.episode
        try:
            started, _ = episodes.episode_reset(
                _caller(user), patient_id=episode.patient_id, task_id=episode.task_id,
                catalog=returned.catalog_name, durability=Episode.Durability.FULL, live=True,
                steps_via=Episode.REVIEW_CHANNEL,
            )
        except ValidationError as exc:  # the patient left the catalog since
            raise ReviewError(f"This patient cannot be reviewed again: {exc.message}", status=409) from exc
        obs = started.env.observation
        assert obs is not None
        new_episode = Episode.objects.only("pk").get(episode_id=obs.episode_id)
        try:
            with transaction.atomic():
                session = ReviewSession.objects.create(episode=new_episode, pharmacist=user,
                                                       catalog_name=returned.catalog_name, revision_of=returned)
        except IntegrityError:  # a concurrent revise won (SQLite serializes before this; PostgreSQL may not)
            raise DuplicateSubmission("This review is already being revised.", session_pk=returned.pk) from None
        audit_append(meta=meta, action=Action.SESSION_REVISED, session=session, payload={
            "revision_of": returned.pk, "revision": revision_number(session), "episode_id": obs.episode_id,
            "patient_id": obs.patient_id, "task_id": obs.task_id, "baseline_risk": obs.baseline_risk,
        })
    return session


def review_comment_step(session: ReviewSession, *, meta: RequestMeta, index: Any, comment: str) -> AuditRecord:
    """A supervisor's comment on one step of a colleague's review, until it is signed off (the
    sign-off's comment is the last word). Comments are audit records: they cannot be edited. The
    same comment sent twice in a row by the same supervisor is recorded once."""
    if not permissions.allowed(meta.user, "review.comment", owner_id=session.pharmacist_id):
        raise ReviewError(permissions.refusal("review.comment"), status=403)
    text = (comment or "").strip()
    if not text:
        raise ReviewError("Write the comment.", field="comment")
    if len(text) > MAX_COMMENT:
        raise ReviewError(f"A comment is at most {MAX_COMMENT} characters (this one has {len(text)}).", field="comment")
    with transaction.atomic():
        _lock(session)
        if session.is_signed_off:
            raise ReviewError("This review is signed off; its steps take no more comments.", status=409)
        try:
            step = int(index)
        except (TypeError, ValueError):
            step = 0
        if not 1 <= step <= session.episode.step_count:
            raise ReviewError(f"Choose a step of this review (1 to {session.episode.step_count}).", field="index")
        last = AuditRecord.objects.filter(session=session, action=Action.STEP_COMMENTED, actor_id=meta.user.pk,
                                          payload__index=step).order_by("-pk").values_list("payload__comment", flat=True).first()
        if last == text:  # a double click, or the form sent again
            raise DuplicateSubmission(f"Your comment on step {step} is already there; it was not added again.",
                                      session_pk=session.pk)
        record = audit_append(meta=meta, action=Action.STEP_COMMENTED, session=session,
                              payload={"index": step, "comment": text})
        review_broadcast(session)
    return record


# ── reads ──────────────────────────────────────────────────────────────────
def step_comments(session: ReviewSession) -> dict[int, list[dict[str, Any]]]:
    """The supervisors' comments on each step, oldest first."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in AuditRecord.objects.filter(session=session, action=Action.STEP_COMMENTED).order_by("pk"):
        found[int(record.payload["index"])].append({"by": record.actor_label, "at": record.created_at,
                                                    "comment": record.payload["comment"]})
    return dict(found)


def revision_number(session: ReviewSession) -> int:
    """1 for a first review, 2 for its revision, and so on."""
    number, current = 1, session
    while current.revision_of_id is not None:
        number += 1
        current = ReviewSession.objects.only("pk", "revision_of_id").get(pk=current.revision_of_id)
    return number
