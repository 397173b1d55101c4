"""Everything the review page and its live fragments show about a session, for one viewer.

One function builds it (``review_page``), so the full page and the fragments that
``reviews/<id>/live`` sends to watching pages render the same rows with the same templates:
the badges, the dose formatting and the words cannot drift between a reload and a live update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from agents.registry import policy_checkpoint
from catalog.selectors import catalog_get
from episodes import selectors as episode_selectors
from episodes.services import Caller, episode_observation
from accounts import permissions
from reviews import clinical, scoring, selectors
from reviews.models import AuditRecord, ReviewSession
from reviews.revisions import revision_number, step_comments

# The regions of the page a live update replaces (template partial, element id).
FRAGMENTS = (
    ("reviews/_status.html", "review-status"),
    ("reviews/_budgets.html", "budgets"),
    ("reviews/_medications.html", "medications-card"),
    ("reviews/_last_result.html", "last-result"),
    ("reviews/_interactions.html", "interactions"),
    ("reviews/_outcome.html", "outcome-region"),
    ("reviews/_sign_off.html", "sign-off-region"),
    ("reviews/_history.html", "history-card"),
)


@dataclass(frozen=True)
class LastResult:
    """What the last step did, shown where the eye is after a post."""

    index: int
    summary: str
    badge: str
    result: str
    panel: clinical.InteractionPanel | None


def review_page(request: HttpRequest, session: ReviewSession) -> dict[str, Any]:
    """The page's context, less its forms (``reviews.views``)."""
    episode = session.episode
    # Who may see the session was decided by ``session_for``; read the episode as its owner.
    obs = episode_observation(Caller(user_id=session.pharmacist_id), episode_id=episode.episode_id)
    catalog = catalog_get(session.catalog_name)
    user = request.user
    regimen_ids = [m.drug_id for m in obs.current_medications]
    history = selectors.step_history(episode, catalog)
    comments = step_comments(session)
    for h in history:
        h["comments"] = comments.get(h["index"], [])
    can_act = (permissions.allowed(user, "review.act", owner_id=session.pharmacist_id)
               and session.status == ReviewSession.Status.IN_PROGRESS and not obs.done)
    panels = clinical.interaction_panels(catalog, obs.interaction_queries)
    # Only a returned review can have a revision (reviews.revisions).
    revised_as = (ReviewSession.objects.filter(revision_of=session).only("pk").first()
                  if session.status == ReviewSession.Status.RETURNED else None)
    last = None
    if history:
        h = history[-1]
        panel = panels[0] if panels and panels[0].step_index == h["index"] and h["badge"] != "refused" else None
        last = LastResult(h["index"], h["summary"], h["badge"], h["result"], panel)
    context: dict[str, Any] = {
        "session": session, "episode": episode, "obs": obs, "catalog": catalog, "history": history,
        "medications": clinical.medication_rows(catalog, obs), "panels": panels,
        "matrix": clinical.pair_matrix(catalog, obs), "brief": scoring.task_brief(obs.task_id),
        "kidney": clinical.kidney_text(obs.eGFR_category), "last": last,
        "can_act": can_act, "is_owner": session.pharmacist_id == user.pk,
        "can_sign_off": (permissions.allowed(user, "review.sign_off", owner_id=session.pharmacist_id)
                         and obs.done and not session.is_signed_off),
        "can_comment": (permissions.allowed(user, "review.comment", owner_id=session.pharmacist_id)
                        and not session.is_signed_off),
        "can_revise": (permissions.allowed(user, "review.revise", owner_id=session.pharmacist_id)
                       and session.status == ReviewSession.Status.RETURNED and revised_as is None),
        "revision": revision_number(session), "revised_as": revised_as,
        "previous": _previous(session, catalog),
        "acb_total": sum(m.anticholinergic_score for m in obs.current_medications),
        "queries_spent": obs.remaining_query_budget <= 0, "interventions_spent": obs.remaining_intervention_budget <= 0,
        "ws_path": f"/ws/reviews/{session.pk}/", "live": not session.is_signed_off,
        "regimen_ids": regimen_ids,
    }
    if obs.done:
        context.update(_outcome(session, obs, catalog))
    return context


def _outcome(session: ReviewSession, obs: Any, catalog: Any) -> dict[str, Any]:
    snapshot = episode_selectors.stored_snapshot(session.episode_id) or {}
    start = list(catalog.patients[obs.patient_id].medication_ids) if obs.patient_id in catalog.patients else []
    current = [m.drug_id for m in obs.current_medications]
    return {
        "breakdown": scoring.score_breakdown(obs.task_id, scoring.grade_inputs(snapshot)) if snapshot else None,
        "open_pairs": scoring.unaddressed_pairs(catalog, snapshot) if snapshot else [],
        "planner": scoring.planner_result(catalog, obs.patient_id, obs.task_id) if obs.patient_id in catalog.patients else None,
        "changes": [{"step": i.step_index, "text": clinical.action_text(catalog, {
            "action_type": "propose_intervention", "intervention_type": i.action_type, "target_drug_id": i.target_drug_id,
            "proposed_new_drug_id": i.proposed_new_drug_id}), "risk_delta": i.risk_delta, "rationale": i.rationale}
            for i in obs.interventions],
        "no_longer_taken": [clinical.drug_name(catalog, d) for d in start if d not in current],
        "added": [clinical.drug_name(catalog, d) for d in current if d not in start],
    }


def _previous(session: ReviewSession, catalog: Any) -> dict[str, Any] | None:
    """The review this one revises: why it was returned, its steps and the comments on them."""
    if session.revision_of_id is None:
        return None
    returned = ReviewSession.objects.select_related("episode", "signed_off_by").get(pk=session.revision_of_id)
    history = selectors.step_history(returned.episode, catalog)
    comments = step_comments(returned)
    for h in history:
        h["comments"] = comments.get(h["index"], [])
    return {"session": returned, "history": history}


def suggestion_shown(session: ReviewSession, suggestion_id: str, catalog: Any) -> dict[str, Any] | None:
    """A shown suggestion of this session as the page presents it: the action in words and why."""
    if not suggestion_id.isdigit():
        return None
    record = AuditRecord.objects.filter(pk=int(suggestion_id), session=session,
                                        action=AuditRecord.Action.SUGGESTION_SHOWN).first()
    return suggestion_view(record, catalog) if record is not None else None


def suggestion_view(record: AuditRecord, catalog: Any) -> dict[str, Any]:
    payload = record.payload
    action = payload["action"]
    suggester = payload.get("suggester", "")
    if suggester == "llm":
        by = f"the LLM ({payload.get('model')})"
    elif policy_checkpoint(suggester) is not None:
        by = f"the trained policy {payload.get('model')}"
    else:
        by = "the rule-based suggester"
    return {
        "id": record.pk, "action": action, "text": clinical.action_text(catalog, action), "by": by,
        "suggester": suggester, "requested": payload.get("requested"), "model": payload.get("model"),
        "fallback_reason": payload.get("fallback_reason"), "rationale": action.get("rationale", ""),
        "reason": payload.get("reason", ""),
        "top": [{"text": clinical.action_text(catalog, t["action"]), "p": t["p"]} for t in payload.get("top", [])],
        "finishes": action.get("action_type") == "finish_review",
    }
