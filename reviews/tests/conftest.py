"""The review tests' helpers on top of the shared world (testsupport/world.py: the classic
catalog, phil and pia the pharmacists, sue the supervisor, rex the researcher, oscar with no
role): phil's review just started (``session``), the forms' fields, the attacker with SQL access,
and for /research/ three finished reviews of phil's (``research_world``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.db import connection

from catalog.selectors import catalog_cache_clear
from episodes.sessions import env_cache
from reviews import services
from reviews.audit import RequestMeta
from reviews.management.commands.flush import audit_triggers_suspended
from reviews.models import ReviewSession
from reviews.selectors import research_code

PATIENT = "EP_0002"  # easy_screening: ibuprofen, tramadol, amitriptyline
SEVERE_PAIR = ("DRUG_TRAMADOL", "DRUG_AMITRIPTYLINE")
SAME_CLASS_SUBSTITUTE = ("DRUG_AMITRIPTYLINE", "DRUG_NORTRIPTYLINE")


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    catalog_cache_clear()
    env_cache.clear()
    yield
    catalog_cache_clear()
    env_cache.clear()


def shown(session: ReviewSession | int, fields: dict | None = None) -> dict:
    """A review form's fields as the page posts them: with the step it was shown at (``at_step``,
    the episode's step count now)."""
    pk = session if isinstance(session, int) else session.pk
    step = ReviewSession.objects.filter(pk=pk).values_list("episode__step_count", flat=True).get()
    return {**(fields or {}), "at_step": step}


def meta(user: User) -> RequestMeta:
    return RequestMeta(user=user, ip="127.0.0.1", user_agent="pytest")


@pytest.fixture
def session(classic: None, phil: User) -> ReviewSession:
    """Phil's review of EP_0002, just started."""
    return services.review_start(meta=meta(phil), patient_id=PATIENT, task_id="easy_screening", catalog_name="classic")


def query(a: str, b: str) -> dict:
    return {"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b}


def intervene(target: str, kind: str, new: str | None = None) -> dict:
    action = {"action_type": "propose_intervention", "target_drug_id": target, "intervention_type": kind}
    if new:
        action["proposed_new_drug_id"] = new
    return action


class attacker:
    """Full SQL access with DDL: the triggers are switched off (the test's transaction rolls it back)."""

    def __enter__(self):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks block ALTER TABLE
        self._suspended = audit_triggers_suspended(connection)
        self._suspended.__enter__()
        return connection.cursor()

    def __exit__(self, *exc):
        return self._suspended.__exit__(*exc)


# ── research (/research/: filters, drill-down, downloads) ──────────────────
RATIONALE = "Mrs Example in bed 4 asked about her tablets"  # free text a person typed


@dataclass(frozen=True)
class ResearchWorld:
    """Three finished reviews by phil, every one shown (k = 1), by name → pseudonym; and one in
    progress (never shown)."""

    codes: dict[str, str]
    sessions: dict[str, ReviewSession]


def _review(phil: User, patient_id: str, task_id: str, actions: list[dict]) -> ReviewSession:
    session = services.review_start(meta=meta(phil), patient_id=patient_id, task_id=task_id, catalog_name="classic")
    for action in actions:
        outcome = services.review_step(session, meta=meta(phil), action=action)
        assert outcome.refusal is None, outcome.refusal
    return ReviewSession.objects.select_related("episode").get(pk=session.pk)


@pytest.fixture
def research_world(classic: None, phil: User, sue: User, monkeypatch: pytest.MonkeyPatch) -> ResearchWorld:
    # Every finished episode shown: these tests are about the filters, the drill-down and the
    # downloads; the 5-anonymity of the rows is test_research.py's.
    monkeypatch.setattr("reviews.selectors.RESEARCH_K", 1)
    finish = {"action_type": "finish_review"}
    sessions = {
        "approved": _review(phil, PATIENT, "easy_screening", [
            query(*SEVERE_PAIR), {**intervene(SAME_CLASS_SUBSTITUTE[0], "substitute", SAME_CLASS_SUBSTITUTE[1]),
                                  "rationale": RATIONALE}, finish]),
        "returned": _review(phil, "EP_0006", "easy_screening", [finish]),
        "pending": _review(phil, "EP_0041", "budgeted_screening", [finish]),
    }
    services.review_sign_off(sessions["approved"], meta=meta(sue), approve=True, comment="Sound.")
    services.review_sign_off(sessions["returned"], meta=meta(sue), approve=False, comment="Query more pairs.")
    _review(phil, "EP_0042", "budgeted_screening", [])  # in progress: not research data
    return ResearchWorld({name: research_code(s.pk) for name, s in sessions.items()},
                         {name: ReviewSession.objects.select_related("episode").get(pk=s.pk) for name, s in sessions.items()})
