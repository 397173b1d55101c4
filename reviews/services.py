"""Review-session services: every write the review pages make, each with its audit record.

Steps go through ``episodes.services.episode_step``, the path the API takes, so the Step rows
and the live broadcasts are the same whoever acts. Unlike the API, a well-formed action the
environment would refuse is *not* stepped here: ``PolypharmacyEnv.refusal`` (the step's own
checks) answers first, and only the rejection is recorded, in the audit trail.

Each service runs in one transaction with its audit record: a step is never stored without the
record that says who took it.
"""

from __future__ import annotations

import functools
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.llm import LLMConfig, Suggestion, llm_config_from, llm_suggest
from agents.policies import heuristic_policy
from catalog.selectors import catalog_get
from envcore.catalog import Catalog
from envcore.contract import FINISH, parse_action
from envcore.errors import EnvError, ValidationError
from envcore.observation import Observation
from episodes import services as episodes
from episodes import selectors as episode_selectors
from episodes import steps
from episodes.models import Episode
from reviews import permissions
from reviews.audit import RequestMeta, audit_append, audit_verify  # noqa: F401  (re-exported)
from reviews.models import AuditRecord, ReviewSession

Action = AuditRecord.Action


class ReviewError(EnvError):
    """A request the review pages refuse, with the form field it concerns (None: the form).
    ``status`` is the page's answer: 422 a refused value, 403 not the user's to do, 409 not
    possible in the review's state."""

    def __init__(self, message: str, field: str | None = None, *, status: int = 422) -> None:
        super().__init__(message, field)
        self.status = status


@dataclass(frozen=True)
class StepOutcome:
    observation: Observation | None
    refusal: tuple[str, str] | None  # (field, message) when the environment refused the action


def _caller(user: Any) -> episodes.Caller:
    return episodes.Caller.for_user(user, channel="review")


def _require_pharmacist_of(session: ReviewSession, user: Any) -> None:
    if not permissions.allowed(user, "review.act", owner_id=session.pharmacist_id):
        raise ReviewError("Only the session's pharmacist can act on it.", status=403)
    if session.status != ReviewSession.Status.IN_PROGRESS:
        raise ReviewError(f"This review is {session.get_status_display()}; it takes no more actions.", status=409)


# ── start ──────────────────────────────────────────────────────────────────
def review_start(*, meta: RequestMeta, patient_id: str, task_id: str, catalog_name: str) -> ReviewSession:
    """Start a review of a patient on a task: a live, fully durable episode owned by the pharmacist."""
    user = meta.user
    if not permissions.allowed(user, "review.start"):
        raise ReviewError(permissions.refusal("review.start"), status=403)
    with transaction.atomic():
        try:
            started, _resumed = episodes.episode_reset(
                _caller(user), patient_id=patient_id, task_id=task_id, catalog=catalog_name,
                durability=Episode.Durability.FULL, live=True,
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


# ── steps ──────────────────────────────────────────────────────────────────
def review_step(session: ReviewSession, *, meta: RequestMeta, action: Any, source: str = "form") -> StepOutcome:
    """Take one action, or refuse it at the form (recording only the rejection).

    Raises ``ReviewError`` when the user may not act or the action is malformed."""
    _require_pharmacist_of(session, meta.user)
    try:
        act = parse_action(action)
    except ValidationError as exc:
        raise ReviewError(exc.message, field=(exc.field or "").removeprefix("action.") or None) from exc
    caller = _caller(meta.user)
    episode_id = session.episode.episode_id
    with transaction.atomic():
        # Lock the episode so no API client steps it between the check and the step: the
        # check must judge the state the step will run on. The check runs on an environment
        # restored from the locked row's snapshot (no dependence on the step path's cache).
        status = Episode.objects.select_for_update().filter(pk=session.episode_id).values_list("status", flat=True).first()
        if status != Episode.Status.OPEN:
            refusal: tuple[str, str] | None = ("action_type", "The review has ended; it takes no more actions.")
        else:
            snapshot = episode_selectors.stored_snapshot(session.episode_id)
            assert snapshot is not None
            refusal = episode_selectors.episode_env(session.catalog_name, snapshot, episode_id).refusal(act)
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
    ReviewSession.objects.filter(pk=session.pk, status=ReviewSession.Status.IN_PROGRESS).update(
        status=ReviewSession.Status.FINISHED, updated_at=timezone.now()
    )
    session.status = ReviewSession.Status.FINISHED
    audit_append(meta=meta, action=Action.SESSION_FINISHED, session=session, payload={
        "grader_score": obs.grader_score, "baseline_risk": obs.baseline_risk, "final_risk": obs.current_risk,
        "truncated": obs.truncated, "steps": obs.step_index,
    })


def review_finish(session: ReviewSession, *, meta: RequestMeta) -> StepOutcome:
    return review_step(session, meta=meta, action=FINISH)


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
    return Suggestion(action, "rule-based", None, None, time.monotonic() - started, None)


def _suggest_llm(observation: dict[str, Any], catalog: Catalog, _argument: str) -> Suggestion:
    # llm_suggest never raises: slow, failing or unsafe answers come back rule-based, with why.
    return llm_suggest(observation, catalog=catalog, config=llm_config())


def _suggest_policy(observation: dict[str, Any], catalog: Catalog, checkpoint: str) -> Suggestion:
    """A trained policy checkpoint's greedy action (``policy:<checkpoint name>``)."""
    from jobs.selectors import checkpoint_path

    started = time.monotonic()
    try:
        path = checkpoint_path(checkpoint)
    except LookupError as exc:
        raise ReviewError(str(exc), field="suggester") from None
    policy = _loaded_policy(str(path), path.stat().st_mtime)
    action = policy(observation, catalog=catalog, rng=random.Random(0))
    return Suggestion(action, f"policy:{checkpoint}", checkpoint, None, time.monotonic() - started, None)


@functools.lru_cache(maxsize=8)
def _loaded_policy(path: str, _mtime: float) -> Callable[..., dict[str, Any]]:
    # Loading a checkpoint takes tens of milliseconds; the mtime in the key drops a replaced file.
    from agents.learning.agent import checkpoint_policy

    return checkpoint_policy(path, greedy=True)


SUGGESTERS: dict[str, SuggesterFn] = {
    "rule-based": _suggest_rule_based,
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


def review_suggest(session: ReviewSession, *, meta: RequestMeta, suggester: str = "rule-based") -> AuditRecord:
    """Ask a suggester ("rule-based", "llm" or "policy:<checkpoint>") for the next action; the suggestion shown is
    recorded with who answered, the model and, when the LLM fell back, why.

    Only the session's pharmacist may ask (checked first), so no other caller can make the site
    spend its LLM key. The LLM call runs outside any transaction: it may take its timeout."""
    _require_pharmacist_of(session, meta.user)
    fn, argument = suggester_resolve(suggester)
    obs = episodes.episode_observation(_caller(meta.user), episode_id=session.episode.episode_id)
    suggestion = fn(obs.to_dict(), catalog_get(session.catalog_name), argument)
    return audit_append(meta=meta, action=Action.SUGGESTION_SHOWN, session=session, payload={
        "action": suggestion.action, "suggester": suggestion.source, "requested": suggester,
        "model": suggestion.model, "fallback_reason": suggestion.fallback_reason,
        "latency_s": round(suggestion.latency_s, 3), "step_index": obs.step_index,
    })


def _pending_suggestion(session: ReviewSession, suggestion_id: Any) -> AuditRecord:
    try:
        pk = int(suggestion_id)
    except (TypeError, ValueError):
        raise ReviewError("Unknown suggestion.", field="suggestion_id") from None
    record = AuditRecord.objects.filter(pk=pk, session=session, action=Action.SUGGESTION_SHOWN).first()
    if record is None:
        raise ReviewError("Unknown suggestion.", field="suggestion_id")
    answered = AuditRecord.objects.filter(
        session=session, action__in=(Action.SUGGESTION_ACCEPTED, Action.SUGGESTION_IGNORED),
        payload__suggestion_id=pk,
    ).exists()
    if answered:
        raise ReviewError("This suggestion was already answered.", field="suggestion_id", status=409)
    return record


def review_accept_suggestion(session: ReviewSession, *, meta: RequestMeta, suggestion_id: Any) -> StepOutcome:
    """Take the suggested action (as recorded, not as the browser sends it back)."""
    _require_pharmacist_of(session, meta.user)
    with transaction.atomic():
        record = _pending_suggestion(session, suggestion_id)
        if record.payload.get("step_index") != session.episode.step_count:
            raise ReviewError("The review moved on since this suggestion; ask for a new one.", field="suggestion_id",
                              status=409)
        audit_append(meta=meta, action=Action.SUGGESTION_ACCEPTED, session=session, payload={
            "suggestion_id": record.pk, "action": record.payload["action"],
        })
        return review_step(session, meta=meta, action=record.payload["action"], source="suggestion")


def review_ignore_suggestion(session: ReviewSession, *, meta: RequestMeta, suggestion_id: Any) -> None:
    _require_pharmacist_of(session, meta.user)
    with transaction.atomic():
        record = _pending_suggestion(session, suggestion_id)
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
    return session


def review_record_view(session: ReviewSession, *, meta: RequestMeta, page: str) -> None:
    """Views of another user's session are audited (a supervisor's, say); one's own are not."""
    if session.pharmacist_id != getattr(meta.user, "pk", None):
        audit_append(meta=meta, action=Action.SESSION_VIEWED, session=session, payload={"page": page})
