"""Reads for the review pages.

Patients and their baseline risk come from the envcore ``Catalog`` that ``catalog_get`` builds
from ``catalog.models.Patient`` and caches until the catalog's next edit. Baseline risk is
computed by envcore itself (a reset on the patient: the number the episode will start from) and
cached per catalog object, so a curator's edit, which builds a new catalog, can never leave a
stale stored risk behind, and nothing needs migrating when the risk formula changes. Filtering
1,000 patients in Python costs about a millisecond; the page makes no query per patient.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from episodes.models import Episode, Step
from accounts import permissions
from reviews import clinical
from reviews.models import AuditRecord, ReviewSession


@dataclass(frozen=True)
class PatientRow:
    patient_id: str
    task_id: str
    age: int
    sex: str
    conditions: tuple[str, ...]
    num_drugs: int
    baseline_risk: float


_ROWS: "weakref.WeakKeyDictionary[Catalog, tuple[PatientRow, ...]]" = weakref.WeakKeyDictionary()


def patient_rows(catalog: Catalog) -> tuple[PatientRow, ...]:
    """Every patient of the catalog with its baseline risk, computed once per catalog."""
    rows = _ROWS.get(catalog)
    if rows is None:
        env = PolypharmacyEnv(catalog)
        built = []
        for patient in catalog.patients.values():
            obs = env.reset(patient_id=patient.patient_id, task_id=patient.task_id)
            built.append(PatientRow(
                patient.patient_id, patient.task_id, patient.age, patient.sex, tuple(patient.conditions),
                len(patient.medication_ids), obs.baseline_risk,
            ))
        rows = _ROWS[catalog] = tuple(built)
    return rows


def patient_list(
    *, catalog: Catalog, task_id: str = "", condition: str = "", min_drugs: int | None = None,
    max_drugs: int | None = None, min_risk: float | None = None, max_risk: float | None = None, search: str = "",
) -> list[PatientRow]:
    """The catalog's patients matching every given filter, in the catalog's order."""
    search = search.strip().lower()
    out = []
    for row in patient_rows(catalog):
        if task_id and row.task_id != task_id:
            continue
        if condition and condition not in row.conditions:
            continue
        if min_drugs is not None and row.num_drugs < min_drugs:
            continue
        if max_drugs is not None and row.num_drugs > max_drugs:
            continue
        if min_risk is not None and row.baseline_risk < min_risk:
            continue
        if max_risk is not None and row.baseline_risk > max_risk:
            continue
        if search and search not in row.patient_id.lower() and not any(search in c.lower() for c in row.conditions):
            continue
        out.append(row)
    return out


def catalog_conditions(catalog: Catalog) -> list[str]:
    return sorted({c for row in patient_rows(catalog) for c in row.conditions})


# ── sessions ───────────────────────────────────────────────────────────────
def sessions_visible_to(user: Any) -> QuerySet[ReviewSession]:
    """A supervisor sees every session; a pharmacist their own; anyone else none."""
    qs = ReviewSession.objects.select_related("episode", "pharmacist", "signed_off_by")
    visible = permissions.scope(user, "review.view")
    if visible == permissions.ANY:
        return qs
    if visible == permissions.OWN:
        return qs.filter(pharmacist=user)
    return qs.none()


@dataclass(frozen=True)
class SessionFilters:
    """/reviews/'s filters (every field optional): pharmacist and patient by prefix, whatever
    the case; task; status; the start date; the grader score (inclusive)."""

    pharmacist: str = ""
    patient: str = ""
    task_id: str = ""
    status: str = ""
    since: Any = None
    until: Any = None
    min_score: float | None = None
    max_score: float | None = None


def session_list(user: Any, filters: SessionFilters = SessionFilters()) -> QuerySet[ReviewSession]:
    """The sessions the user may see that match every given filter, newest first."""
    qs = sessions_visible_to(user)
    f = filters
    if f.pharmacist:
        qs = qs.filter(pharmacist__username__istartswith=f.pharmacist)
    if f.patient:
        qs = qs.filter(episode__patient_id__istartswith=f.patient)
    if f.task_id:
        qs = qs.filter(episode__task_id=f.task_id)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.since is not None:
        qs = qs.filter(created_at__date__gte=f.since)
    if f.until is not None:
        qs = qs.filter(created_at__date__lte=f.until)
    if f.min_score is not None:
        qs = qs.filter(episode__grader_score__gte=f.min_score)
    if f.max_score is not None:
        qs = qs.filter(episode__grader_score__lte=f.max_score)
    return qs


def session_for(user: Any, pk: int) -> ReviewSession:
    """The session if the user may see it. Users without a review role get 403; a pharmacist
    asking for a colleague's session gets 404 (its existence is not theirs to know)."""
    permissions.require(user, "review.view")
    session = ReviewSession.objects.select_related("episode", "pharmacist", "signed_off_by").filter(pk=pk).first()
    if session is None or not permissions.allowed(user, "review.view", owner_id=session.pharmacist_id):
        raise Http404("No such review session.")
    return session


# ── the review page ────────────────────────────────────────────────────────
def action_summary(action: dict[str, Any]) -> str:
    kind = action.get("action_type")
    if kind == "query_ddi":
        return f"query {action.get('drug_id_1')} + {action.get('drug_id_2')}"
    if kind == "propose_intervention":
        text = f"{action.get('intervention_type')} {action.get('target_drug_id')}"
        if action.get("proposed_new_drug_id"):
            text += f" → {action['proposed_new_drug_id']}"
        return text
    return "finish review"


RECOMMENDATION_WORDS = {"avoid_combination": "avoid the combination", "dose_adjust": "adjust the dose",
                        "monitor_closely": "monitor closely", "no_action": "no action needed"}


def step_history(episode: Episode, catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """The episode's steps, oldest first, with what each one did (one query). With the catalog,
    in the review page's words (drug names; ``badge`` the severity, intervention or refusal);
    without it (the research drill-down), with the drugs' ids."""
    rows = Step.objects.filter(episode=episode).order_by("index").values(
        "index", "actor_label", "action", "reward", "raw_reward", "created_at",
        "observation__last_action_error", "observation__last_query_result", "observation__current_risk",
        "observation__grader_score", "observation__interventions",
    )
    history = []
    for row in rows:
        error = row["observation__last_action_error"]
        action = row["action"]
        kind = action.get("action_type")
        badge = ""
        if error:
            badge, result = "refused", f"refused: {clinical.plain_message(catalog, error) if catalog else error}"
        elif kind == "query_ddi":
            q = row["observation__last_query_result"] or {}
            badge = q.get("severity", "?")
            if catalog is None:
                result = f"{badge} ({q.get('recommendation', '')})"
            else:
                result = RECOMMENDATION_WORDS.get(q.get("recommendation", ""), q.get("recommendation", ""))
        elif kind == "propose_intervention":
            last = (row["observation__interventions"] or [{}])[-1]
            delta = last.get("risk_delta", 0.0)
            badge = action.get("intervention_type", "")
            if catalog is None:
                result = f"risk Δ {-delta:+.3f}"
                if last.get("proposed_new_drug_id"):
                    result = f"now {last['proposed_new_drug_id']}; {result}"
            else:
                result = (f"risk lowered by {delta:.3f}" if delta > 0 else f"risk raised by {-delta:.3f}" if delta < 0
                          else "risk unchanged")
                if last.get("proposed_new_drug_id"):
                    result = f"now {clinical.drug_name(catalog, last['proposed_new_drug_id'])}; {result}"
        else:
            badge = "finished"
            result = f"score {row['observation__grader_score']:.3f}" if row["observation__grader_score"] is not None else "finished"
        history.append({
            "index": row["index"], "actor": row["actor_label"], "badge": badge,
            "summary": clinical.action_text(catalog, action) if catalog else action_summary(action),
            "result": result, "reward": row["reward"], "raw_reward": row["raw_reward"], "risk": row["observation__current_risk"],
            "created_at": row["created_at"],
        })
    return history


def substitute_choices(catalog: Catalog, regimen: list[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """For each drug of the regimen, the same-class drugs not already taken: the only valid
    substitutes (the environment rejects any other)."""
    taken = set(regimen)
    groups = []
    for drug_id in regimen:
        options = [
            (cand, f"{catalog.drugs[cand].generic_name} ({cand})")
            for cand in sorted(catalog.same_class(drug_id)) if cand not in taken
        ]
        if options:
            groups.append((drug_id, options))
    return groups


# ── audit ──────────────────────────────────────────────────────────────────
def audit_for_session(session: ReviewSession) -> QuerySet[AuditRecord]:
    return AuditRecord.objects.filter(session=session).order_by("pk")


def audit_list(*, actor: str = "", action: str = "", session_id: int | None = None,
               since: Any = None, until: Any = None) -> QuerySet[AuditRecord]:
    qs = AuditRecord.objects.order_by("-pk")
    if actor:
        # By prefix, whatever the case: "PH" finds phil and pharma-2.
        qs = qs.filter(actor_label__istartswith=actor)
    if action:
        qs = qs.filter(action=action)
    if session_id is not None:
        qs = qs.filter(session_id=session_id)
    if since is not None:
        qs = qs.filter(created_at__date__gte=since)
    if until is not None:
        qs = qs.filter(created_at__date__lte=until)
    return qs


# ── research ───────────────────────────────────────────────────────────────
def research_code(session_pk: int) -> str:
    """A stable pseudonym for a session that cannot be turned back into its id or URL."""
    key = settings.SECRET_KEY.encode("utf-8")
    return hmac.new(key, f"review-session:{session_pk}".encode(), hashlib.sha256).hexdigest()[:12]


# k-anonymity of /research/ (README "Review sessions"): what a row shows besides its pseudonym, its
# step count and its sign-off (the catalog, the task and the binned risks and score) is shared by
# the rows of at least RESEARCH_K different patients, or the row is not shown. Exact risks would
# single patients out: anyone who can reset an episode reads each patient's baseline risk.
RESEARCH_K = 5
RISK_BIN = 0.1  # baseline and final risk: 0.0–0.1, 0.1–0.2, …, 0.9–1.0
SCORE_BIN = 0.2  # grader score: 0.0–0.2, …, 0.8–1.0


def research_bin(value: float | None, width: float) -> str:
    """The bin of ``value`` in [0, 1] cut into bins of ``width``: "lo–hi", lo included, hi
    excluded but for the last bin (values outside [0, 1] go to the nearest end bin)."""
    if value is None:
        return "—"
    count = round(1 / width)
    # round(): 0.3 / 0.1 is 2.9999999999999996 in floating point, and 0.3 belongs to 0.3–0.4.
    index = min(max(math.floor(round(value / width, 9)), 0), count - 1)
    return f"{index * width:.1f}–{(index + 1) * width:.1f}"


@dataclass(frozen=True)
class ResearchFilters:
    """What /research/ narrows its rows to (every field optional): the query string's catalog,
    task, outcome (the sign-off: pending, approved, returned) and score range (inclusive)."""

    catalog: str = ""
    task_id: str = ""
    outcome: str = ""
    min_score: float | None = None
    max_score: float | None = None

    def matches(self, row: dict[str, Any], score: float | None) -> bool:
        if self.catalog and row["catalog"] != self.catalog:
            return False
        if self.task_id and row["task_id"] != self.task_id:
            return False
        if self.outcome and row["sign_off"] != self.outcome:
            return False
        if self.min_score is not None and (score is None or score < self.min_score):
            return False
        return self.max_score is None or (score is not None and score <= self.max_score)

    def as_dict(self) -> dict[str, Any]:
        """The filters that are set (for the audit record of an export)."""
        return {k: v for k, v in vars(self).items() if v not in ("", None)}


@dataclass(frozen=True)
class ResearchTable:
    rows: list[dict[str, Any]]  # the shown rows that match the filters
    suppressed: int  # finished episodes not shown: fewer than RESEARCH_K patients share their row
    shown: int = 0  # rows shown before the filters
    sessions: dict[str, int] = field(default_factory=dict)  # pseudonym → session pk, of ``rows``; never rendered
    k: int = RESEARCH_K
    risk_bin: float = RISK_BIN
    score_bin: float = SCORE_BIN


def research_rows(filters: ResearchFilters = ResearchFilters()) -> ResearchTable:
    """Finished review episodes, anonymised: no user, patient id, demographics or timestamps;
    the catalog, the task, the risks and score in bins, the step count and the sign-off
    decision, each row shown only if the rows of at least ``RESEARCH_K`` different patients show
    the same catalog, task and bins (k-anonymity on what a patient's data can reveal). The
    filters choose among the shown rows; they never change which rows are shown, so a filter
    cannot single out a group smaller than ``RESEARCH_K``."""
    done = (ReviewSession.Status.FINISHED, ReviewSession.Status.APPROVED, ReviewSession.Status.RETURNED)
    rows = ReviewSession.objects.filter(status__in=done).order_by("pk").values(
        "pk", "catalog_name", "status", "episode__task_id", "episode__patient_id", "episode__step_count",
        "episode__baseline_risk", "episode__current_risk", "episode__grader_score",
    )
    groups: dict[tuple[str, ...], list[tuple[dict[str, Any], int, float | None]]] = defaultdict(list)
    patients: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for r in rows:
        row: dict[str, Any] = {
            "code": research_code(r["pk"]), "catalog": r["catalog_name"], "task_id": r["episode__task_id"],
            "steps": r["episode__step_count"], "baseline_risk": research_bin(r["episode__baseline_risk"], RISK_BIN),
            "final_risk": research_bin(r["episode__current_risk"], RISK_BIN),
            "grader_score": research_bin(r["episode__grader_score"], SCORE_BIN),
            "sign_off": r["status"] if r["status"] != ReviewSession.Status.FINISHED else "pending",
        }
        key = (row["catalog"], row["task_id"], row["baseline_risk"], row["final_risk"], row["grader_score"])
        groups[key].append((row, r["pk"], r["episode__grader_score"]))
        # Patients, not episodes: five reviews of one patient would still point at that patient.
        patients[key].add(r["episode__patient_id"])
    shown = [entry for key, group in groups.items() if len(patients[key]) >= RESEARCH_K for entry in group]
    total = sum(len(group) for group in groups.values())
    # Sorted by pseudonym, not by id: row order must not reveal which session came first.
    chosen = sorted((e for e in shown if filters.matches(e[0], e[2])), key=lambda e: e[0]["code"])
    return ResearchTable([row for row, _, _ in chosen], total - len(shown), shown=len(shown),
                         sessions={row["code"]: pk for row, pk, _ in chosen})


def research_session(code: str) -> tuple[ReviewSession, dict[str, Any]]:
    """The session behind a pseudonym of the table, and its row; 404 for any other code, a
    suppressed episode's included (its drill-down would show what the table holds back)."""
    table = research_rows()
    pk = table.sessions.get(code)
    if pk is None:
        raise Http404("No such episode among the research rows.")
    row = next(r for r in table.rows if r["code"] == code)
    return ReviewSession.objects.select_related("episode").get(pk=pk), row


def research_steps(session: ReviewSession) -> list[dict[str, Any]]:
    """The episode's steps as the drill-down shows them: what was done and what the environment
    answered, without the actor (a username) or the time, and without the rationale (free text
    typed by a person; ``action_summary`` never shows it)."""
    keep = ("index", "summary", "result", "reward", "raw_reward")
    return [{k: step[k] for k in keep} for step in step_history(session.episode)]


def suggestion_finishes(session: ReviewSession, suggestion_id: int) -> bool:
    """Whether this shown suggestion of the session is to finish the review."""
    action = AuditRecord.objects.filter(pk=suggestion_id, session=session,
                                        action=AuditRecord.Action.SUGGESTION_SHOWN).values_list("payload__action", flat=True).first()
    return isinstance(action, dict) and action.get("action_type") == "finish_review"
