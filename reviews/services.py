"""Review-session services: every write the review pages make, each with its audit record.

Steps go through ``episodes.services.episode_step``, the path the API takes, so the Step rows
and the live broadcasts are the same whoever acts. Unlike the API, a well-formed action the
environment would refuse is *not* stepped here: ``PolypharmacyEnv.refusal`` (the step's own
checks) answers first, and only the rejection is recorded, in the audit trail.

Each service runs in one transaction with its audit record: a step is never stored without the
record that says who took it.

Every state-changing service is idempotent under concurrency: it locks the session's row
(``_lock``) before its checks, so two submissions of one form run one after the other and the
second sees what the first did. Forms name the step they were shown at (``at_step``); a
submission whose step has already been taken, a suggestion already answered, a sign-off already
made by the same supervisor, or a start that repeats one of the last seconds raises
``DuplicateSubmission``: nothing is done, and the page shows the review with a notice.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from agents.learned import cached_greedy_policy
from agents.llm import LLMConfig, Suggestion, llm_config_from, llm_suggest
from agents.policies import RULE_BASED, heuristic_policy
from agents.registry import policy_agent, policy_checkpoint
from catalog.selectors import catalog_get
from envcore.catalog import Catalog
from envcore.contract import FINISH, parse_action
from envcore.errors import EnvError, ValidationError
from envcore.observation import Observation
from episodes import services as episodes
from episodes import selectors as episode_selectors
from episodes import steps
from episodes.models import Episode
from accounts import permissions
from jobs.selectors import checkpoint_path
from reviews.audit import RequestMeta, audit_append
from reviews.clinical import asked_before, repeat_message
from reviews.live import review_broadcast
from reviews.models import AuditRecord, ReviewSession
from reviews.suggestion_reasons import policy_top_actions, rule_based_reason

Action = AuditRecord.Action


class ReviewError(EnvError):
    """A request the review pages refuse, with the form field it concerns (None: the form).
    ``status`` is the page's answer: 422 a refused value, 403 not the user's to do, 409 not
    possible in the review's state."""

    def __init__(self, message: str, field: str | None = None, *, status: int = 422) -> None:
        super().__init__(message, field)
        self.status = status


class DuplicateSubmission(ReviewError):
    """A submission that repeats one already applied (a double click, a form sent again, a page
    older than the last step): nothing was done. ``session_pk`` is the review that shows the
    outcome; the pages answer 303 See Other to it with the message as a notice, because the
    browser shows the answer to the *last* of two clicks, and that answer must show what the
    first one did rather than an error."""

    def __init__(self, message: str, *, session_pk: int) -> None:
        super().__init__(message, None, status=303)
        self.session_pk = session_pk


# A second "start" of the same patient and task by the same pharmacist this soon after the first
# is a double submit (a double click, a reload that posts again): it gets the first session.
START_REPEAT_WINDOW_S = 30


@dataclass(frozen=True)
class StepOutcome:
    observation: Observation | None
    refusal: tuple[str, str] | None  # (field, message) when the environment refused the action


def _caller(user: Any) -> episodes.Caller:
    return episodes.Caller.for_user(user, channel=Episode.REVIEW_CHANNEL)


def _require_pharmacist(session: ReviewSession, user: Any) -> None:
    if not permissions.allowed(user, "review.act", owner_id=session.pharmacist_id):
        raise ReviewError("Only the session's pharmacist can act on it.", status=403)


def _require_in_progress(session: ReviewSession) -> None:
    if session.status != ReviewSession.Status.IN_PROGRESS:
        raise ReviewError(f"This review is {session.get_status_display()}; it takes no more actions.", status=409)


def _lock(session: ReviewSession) -> None:
    """Lock the session's row and its episode's until the transaction ends, and refresh what the
    checks read from them (status, sign-off, step count).

    Taken by every state-changing service before its checks: of two submissions of one form, the
    second waits here and then sees the first one's outcome. On SQLite ``select_for_update`` does
    nothing, but the site's transactions are IMMEDIATE (settings): a transaction holds the
    database's write lock from its BEGIN, which serializes the same way."""
    locked = ReviewSession.objects.select_for_update().select_related("episode").get(pk=session.pk)
    for name in ("status", "signed_off_by_id", "signed_off_at", "sign_off_comment", "updated_at"):
        setattr(session, name, getattr(locked, name))
    session.episode = locked.episode


def _require_at_step(session: ReviewSession, at_step: int | None) -> None:
    """Refuse a form shown at another step than the episode's current one (``None``: a caller
    that names no step, such as the services' own tests, is not checked)."""
    if at_step is None:
        return
    current = session.episode.step_count
    if at_step > current:
        raise ReviewError(f"at_step {at_step} is ahead of the review (step {current}); reload the page.",
                          field="at_step")
    if at_step != current:
        raise DuplicateSubmission(
            f"This form was shown at step {at_step} and the review is now at step {current}: it was not applied "
            "again. The history below shows what was done; submit it again if it is still needed.",
            session_pk=session.pk,
        )


# ── start ──────────────────────────────────────────────────────────────────
def review_start(*, meta: RequestMeta, patient_id: str, task_id: str, catalog_name: str) -> ReviewSession:
    """Start a review of a patient on a task: a live, fully durable episode owned by the pharmacist.

    A second start of the same patient, task and catalog by the same pharmacist within
    ``START_REPEAT_WINDOW_S`` seconds, while the first is in progress, raises
    ``DuplicateSubmission`` naming the first session."""
    user = meta.user
    if not permissions.allowed(user, "review.start"):
        raise ReviewError(permissions.refusal("review.start"), status=403)
    with transaction.atomic():
        # Lock the pharmacist's user row: their starts run one at a time, so of two identical
        # submissions the second finds the first one's session (SQLite: the IMMEDIATE transaction).
        list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
        _refuse_repeated_start(user, patient_id=patient_id, task_id=task_id, catalog_name=catalog_name)
        try:
            started, _resumed = episodes.episode_reset(
                _caller(user), patient_id=patient_id, task_id=task_id, catalog=catalog_name,
                durability=Episode.Durability.FULL, live=True, steps_via=Episode.REVIEW_CHANNEL,
            )
            obs = started.env.observation
            assert obs is not None
        except ValidationError as exc:
            raise ReviewError(exc.message, field=(exc.field or "").removeprefix("action.") or None) from exc
        episode = Episode.objects.only("pk").get(episode_id=obs.episode_id)
        session = ReviewSession.objects.create(episode=episode, pharmacist=user, catalog_name=catalog_name)
        audit_append(meta=meta, action=Action.SESSION_STARTED, session=session, payload={
            "episode_id": obs.episode_id, "catalog": catalog_name, "task_id": obs.task_id,
            "patient_id": obs.patient_id, "baseline_risk": obs.baseline_risk,
        })
    return session


def _refuse_repeated_start(user: Any, *, patient_id: str, task_id: str, catalog_name: str) -> None:
    since = timezone.now() - timedelta(seconds=START_REPEAT_WINDOW_S)
    recent = ReviewSession.objects.filter(
        pharmacist=user, catalog_name=catalog_name, status=ReviewSession.Status.IN_PROGRESS, created_at__gte=since,
        episode__patient_id=patient_id, episode__task_id=task_id, episode__status=Episode.Status.OPEN,
    ).order_by("-pk").only("pk", "created_at").first()
    if recent is not None:
        seconds = max(0, round((timezone.now() - recent.created_at).total_seconds()))
        raise DuplicateSubmission(
            f"You started this review of {patient_id} {seconds} s ago; this is the same session.", session_pk=recent.pk,
        )


# ── steps ──────────────────────────────────────────────────────────────────
def review_step(session: ReviewSession, *, meta: RequestMeta, action: Any, source: str = "form",
                at_step: int | None = None, repeat_ok: bool = True) -> StepOutcome:
    """Take one action, or refuse it at the form (recording only the rejection). ``at_step``: the
    step the form was shown at; a form of an earlier step raises ``DuplicateSubmission``.
    ``repeat_ok=False`` (the query form, unless its "ask again" box is ticked) refuses a query of
    a pair already asked, in either order: it would spend a query and earn nothing.

    Raises ``ReviewError`` when the user may not act or the action is malformed."""
    _require_pharmacist(session, meta.user)
    try:
        act = parse_action(action)
    except ValidationError as exc:
        raise ReviewError(exc.message, field=(exc.field or "").removeprefix("action.") or None) from exc
    caller = _caller(meta.user)
    episode_id = session.episode.episode_id
    with transaction.atomic():
        # The lock covers the episode too, so no API client steps it between the check and the
        # step: the check must judge the state the step will run on. The check runs on an
        # environment restored from the locked row's snapshot (not the step path's cache).
        _lock(session)
        _require_at_step(session, at_step)
        _require_in_progress(session)
        if session.episode.status != Episode.Status.OPEN:
            refusal: tuple[str, str] | None = ("action_type", "The review has ended; it takes no more actions.")
        else:
            snapshot = episode_selectors.stored_snapshot(session.episode_id)
            assert snapshot is not None
            env = episode_selectors.episode_env(session.catalog_name, snapshot, episode_id)
            refusal = env.refusal(act)
            if refusal is None and not repeat_ok and act.action_type == "query_ddi":
                first = asked_before(env.observation, act.drug_id_1, act.drug_id_2)
                if first is not None:
                    refusal = ("drug_id_2", repeat_message(env.catalog, first))
        if refusal is not None:
            audit_append(meta=meta, action=Action.STEP_REJECTED, session=session, payload={
                "action": act.to_dict(), "field": refusal[0], "message": refusal[1], "source": source,
            })
            return StepOutcome(None, refusal)
        try:
            obs = steps.episode_step(caller, action=act, episode_id=episode_id).observation
        except EnvError as exc:
            raise ReviewError(exc.message, status=exc.status) from exc
        audit_append(meta=meta, action=Action.STEP_TAKEN, session=session, payload={
            "index": obs.step_index, "action": act.to_dict(), "source": source, "reward": obs.shaped_reward,
            "raw_reward": obs.raw_reward, "error": obs.last_action_error, "current_risk": obs.current_risk,
        })
        if obs.done:
            _mark_finished(session, meta, obs)
    return StepOutcome(obs, None)


def _mark_finished(session: ReviewSession, meta: RequestMeta, obs: Observation) -> None:
    marked = ReviewSession.objects.filter(pk=session.pk, status=ReviewSession.Status.IN_PROGRESS).update(
        status=ReviewSession.Status.FINISHED, updated_at=timezone.now()
    )
    if marked != 1:
        return  # someone else marked it (and recorded it) first
    session.status = ReviewSession.Status.FINISHED
    audit_append(meta=meta, action=Action.SESSION_FINISHED, session=session, payload={
        "grader_score": obs.grader_score, "baseline_risk": obs.baseline_risk, "final_risk": obs.current_risk,
        "truncated": obs.truncated, "steps": obs.step_index,
    })


def review_finish(session: ReviewSession, *, meta: RequestMeta, at_step: int | None = None) -> StepOutcome:
    return review_step(session, meta=meta, action=FINISH, at_step=at_step)


def review_sync_finished(session: ReviewSession, *, meta: RequestMeta) -> None:
    """Mark the session finished when its episode ended by another way in (an API client's
    finish, or the step limit) so that it can be signed off."""
    if session.status != ReviewSession.Status.IN_PROGRESS or session.episode.status == Episode.Status.OPEN:
        return
    obs = episodes.episode_observation(_caller(session.pharmacist), episode_id=session.episode.episode_id)
    with transaction.atomic():
        _mark_finished(session, meta, obs)


# ── suggestions ────────────────────────────────────────────────────────────
# A suggester is named "<kind>" or "<kind>:<argument>" (room for "policy:<checkpoint>"); each
# kind maps to one function of (observation, catalog, argument) -> Suggestion.
SuggesterFn = Callable[[dict[str, Any], Catalog, str], Suggestion]


def llm_config() -> LLMConfig | None:
    """The LLM suggester's endpoint, from settings (None: not configured, or misconfigured)."""
    return llm_config_from(settings)


def _suggest_rule_based(observation: dict[str, Any], catalog: Catalog, _argument: str) -> Suggestion:
    started = time.monotonic()
    # The heuristic is deterministic; the rng is only part of the policy signature.
    action = heuristic_policy(observation, catalog=catalog, rng=random.Random(0))
    return Suggestion(action, RULE_BASED, None, None, time.monotonic() - started, None)


def _suggest_llm(observation: dict[str, Any], catalog: Catalog, _argument: str) -> Suggestion:
    # llm_suggest never raises: slow, failing or unsafe answers come back rule-based, with why.
    return llm_suggest(observation, catalog=catalog, config=llm_config())


def _suggest_policy(observation: dict[str, Any], catalog: Catalog, checkpoint: str) -> Suggestion:
    """A trained policy checkpoint's greedy action (``policy:<checkpoint name>``)."""
    started = time.monotonic()
    try:
        path = checkpoint_path(checkpoint)
    except LookupError as exc:
        raise ReviewError(str(exc), field="suggester") from None
    policy = cached_greedy_policy(str(path), path.stat().st_mtime)
    action = policy(observation, catalog=catalog, rng=random.Random(0))
    return Suggestion(action, policy_agent(checkpoint), checkpoint, None, time.monotonic() - started, None)


SUGGESTERS: dict[str, SuggesterFn] = {
    RULE_BASED: _suggest_rule_based,
    "llm": _suggest_llm,
    "policy": _suggest_policy,
}
# Kinds that take an argument after the colon: "policy:<checkpoint name>".
_SUGGESTERS_WITH_ARGUMENT: frozenset[str] = frozenset({"policy"})


def suggester_resolve(suggester: str) -> tuple[SuggesterFn, str]:
    """The function behind a suggester name and its argument. Raises ``ReviewError`` at the
    ``suggester`` field for an unknown one."""
    kind, _, argument = (suggester or "").partition(":")
    fn = SUGGESTERS.get(kind)
    if fn is None or bool(argument) != (kind in _SUGGESTERS_WITH_ARGUMENT):
        allowed = ", ".join(sorted(SUGGESTERS))
        raise ReviewError(f"Unknown suggester {suggester!r}; expected one of {allowed}.", field="suggester")
    return fn, argument


def review_suggest(session: ReviewSession, *, meta: RequestMeta, suggester: str = RULE_BASED,
                   at_step: int | None = None) -> AuditRecord:
    """Ask a suggester ("rule-based", "llm" or "policy:<checkpoint>") for the next action; the suggestion shown is
    recorded with who answered, the model and, when the LLM fell back, why.

    Only the session's pharmacist may ask (checked first), so no other caller can make the site
    spend its LLM key. The LLM call runs outside any transaction: it may take its timeout. Asking
    again at the same step with the same suggester, while its suggestion is unanswered, returns
    that suggestion (a double submit records one), even when both asked at once."""
    _require_pharmacist(session, meta.user)
    fn, argument = suggester_resolve(suggester)
    with transaction.atomic():
        _lock(session)
        _require_at_step(session, at_step)
        _require_in_progress(session)
        shown = _unanswered_suggestion(session, suggester)
    if shown is not None:
        return shown
    obs = episodes.episode_observation(_caller(meta.user), episode_id=session.episode.episode_id)
    catalog = catalog_get(session.catalog_name)
    suggestion = fn(obs.to_dict(), catalog, argument)
    reasons = _suggestion_reasons(suggestion, obs.to_dict(), catalog, argument)
    with transaction.atomic():
        _lock(session)
        if session.episode.step_count != obs.step_index:
            raise ReviewError("The review moved on while the suggester answered; ask again.", status=409)
        shown = _unanswered_suggestion(session, suggester)  # a concurrent request of the same may have won
        if shown is not None:
            return shown
        return audit_append(meta=meta, action=Action.SUGGESTION_SHOWN, session=session, payload={
            "action": suggestion.action, "suggester": suggestion.source, "requested": suggester,
            "model": suggestion.model, "fallback_reason": suggestion.fallback_reason,
            "latency_s": round(suggestion.latency_s, 3), "step_index": obs.step_index, **reasons,
        })


def _suggestion_reasons(suggestion: Suggestion, observation: dict[str, Any], catalog: Catalog,
                        argument: str) -> dict[str, Any]:
    """Why: the rule-based suggester's rule (``reason``), or a trained policy's likeliest actions
    with their probabilities (``top``). An LLM's reason is its action's own rationale."""
    if suggestion.source == RULE_BASED:
        return {"reason": rule_based_reason(observation, catalog)}
    if policy_checkpoint(suggestion.source) is not None:
        path = checkpoint_path(argument)
        return {"top": policy_top_actions(cached_greedy_policy(str(path), path.stat().st_mtime), observation, catalog)}
    return {}


def _answers(session: ReviewSession, suggestion_ids: list[int]) -> dict[int, str]:
    """Which of these suggestions were answered, and how (accepted or ignored)."""
    rows = AuditRecord.objects.filter(
        session=session, action__in=(Action.SUGGESTION_ACCEPTED, Action.SUGGESTION_IGNORED),
        payload__suggestion_id__in=suggestion_ids,
    ).values_list("payload__suggestion_id", "action")
    return {int(pk): action for pk, action in rows}


def _unanswered_suggestion(session: ReviewSession, suggester: str) -> AuditRecord | None:
    """The newest unanswered suggestion of this suggester at the episode's current step."""
    shown = list(AuditRecord.objects.filter(
        session=session, action=Action.SUGGESTION_SHOWN, payload__step_index=session.episode.step_count,
        payload__requested=suggester,
    ).order_by("-pk"))
    answered = _answers(session, [r.pk for r in shown]) if shown else {}
    return next((r for r in shown if r.pk not in answered), None)


def _pending_suggestion(session: ReviewSession, suggestion_id: Any) -> AuditRecord:
    """The suggestion to answer (call under ``_lock``). Answered already: ``DuplicateSubmission``."""
    try:
        pk = int(suggestion_id)
    except (TypeError, ValueError):
        raise ReviewError("Unknown suggestion.", field="suggestion_id") from None
    record = AuditRecord.objects.filter(pk=pk, session=session, action=Action.SUGGESTION_SHOWN).first()
    if record is None:
        raise ReviewError("Unknown suggestion.", field="suggestion_id")
    answer = _answers(session, [pk]).get(pk)
    if answer is not None:
        how = "accepted" if answer == Action.SUGGESTION_ACCEPTED else "ignored"
        raise DuplicateSubmission(f"This suggestion was already {how}; it was not answered again.",
                                  session_pk=session.pk)
    return record


def review_accept_suggestion(session: ReviewSession, *, meta: RequestMeta, suggestion_id: Any) -> StepOutcome:
    """Take the suggested action (as recorded, not as the browser sends it back). A suggestion is
    answered once: a second answer raises ``DuplicateSubmission``."""
    _require_pharmacist(session, meta.user)
    with transaction.atomic():
        _lock(session)
        record = _pending_suggestion(session, suggestion_id)
        _require_in_progress(session)
        if record.payload.get("step_index") != session.episode.step_count:
            raise ReviewError("The review moved on since this suggestion; ask for a new one.", field="suggestion_id",
                              status=409)
        audit_append(meta=meta, action=Action.SUGGESTION_ACCEPTED, session=session, payload={
            "suggestion_id": record.pk, "action": record.payload["action"],
        })
        return review_step(session, meta=meta, action=record.payload["action"], source="suggestion")


def review_ignore_suggestion(session: ReviewSession, *, meta: RequestMeta, suggestion_id: Any) -> None:
    _require_pharmacist(session, meta.user)
    with transaction.atomic():
        _lock(session)
        record = _pending_suggestion(session, suggestion_id)
        _require_in_progress(session)
        audit_append(meta=meta, action=Action.SUGGESTION_IGNORED, session=session, payload={
            "suggestion_id": record.pk, "action": record.payload["action"],
        })


# ── sign-off and views ─────────────────────────────────────────────────────
def review_sign_off(session: ReviewSession, *, meta: RequestMeta, approve: bool, comment: str) -> ReviewSession:
    """A supervisor approves or returns a finished review. After this the session is immutable
    (the services refuse, and a database trigger refuses any UPDATE or DELETE of the row)."""
    user = meta.user
    if not permissions.allowed(user, "review.sign_off", owner_id=session.pharmacist_id):
        raise ReviewError("Only a supervisor other than the session's pharmacist can sign it off.", status=403)
    comment = (comment or "").strip()
    if not approve and not comment:
        raise ReviewError("Say why the review is returned.", field="comment")
    review_sync_finished(session, meta=meta)
    status = ReviewSession.Status.APPROVED if approve else ReviewSession.Status.RETURNED
    now = timezone.now()
    with transaction.atomic():
        _lock(session)
        if session.is_signed_off and session.signed_off_by_id == user.pk and session.status == status \
                and session.sign_off_comment == comment:
            raise DuplicateSubmission(f"You already {'approved' if approve else 'returned'} this review.",
                                      session_pk=session.pk)
        # Conditional update: two supervisors signing at once cannot both succeed.
        signed = ReviewSession.objects.filter(pk=session.pk, status=ReviewSession.Status.FINISHED).update(
            status=status, signed_off_by=user, signed_off_at=now, sign_off_comment=comment, updated_at=now,
        )
        if signed != 1:
            raise ReviewError("Only a finished review that is not yet signed off can be signed off.", status=409)
        session.status, session.signed_off_by, session.signed_off_at, session.sign_off_comment = status, user, now, comment
        audit_append(
            meta=meta, action=Action.SESSION_APPROVED if approve else Action.SESSION_RETURNED, session=session,
            payload={"comment": comment, "grader_score": session.episode.grader_score},
        )
        review_broadcast(session)  # watching pages drop their live badge and show the sign-off
    return session


def review_record_view(session: ReviewSession, *, meta: RequestMeta, page: str) -> None:
    """Views of another user's session are audited (a supervisor's, say); one's own are not."""
    if session.pharmacist_id != getattr(meta.user, "pk", None):
        audit_append(meta=meta, action=Action.SESSION_VIEWED, session=session, payload={"page": page})
