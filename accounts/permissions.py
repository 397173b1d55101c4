"""Who may do what: one declarative table, principal × action (README, "Permissions").

Every page, API view, admin action and consumer asks this module (``allowed``, ``require``,
``scope``); nothing else decides from roles or ``is_staff``. A user's *principals* are their
roles (Django groups, ``accounts.roles``), ``superuser`` (the account flag), else ``no role``
when signed in, or ``anonymous``. Principals add up: a pharmacist who is also a supervisor may
do what either may. A cell says on which objects the principal may act:

- ``ANY``: every object (for a page: it opens);
- ``OWN``: only what the user owns (their review session, their job);
- ``OTHERS``: only what someone else owns (four eyes: a supervisor signs off a colleague's review);
- no cell: never.

The job kinds are named here as strings (this app sits below jobs and the apps that register
kinds in ``jobs.kinds``); a test holds the two lists together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from django.conf import settings
from django.core.exceptions import PermissionDenied

from accounts.roles import CURATOR, PHARMACIST, RESEARCHER, SUPERVISOR, user_roles

ANONYMOUS, NO_ROLE, SUPERUSER = "anonymous", "no role", "superuser"
PRINCIPALS = (ANONYMOUS, NO_ROLE, PHARMACIST, SUPERVISOR, RESEARCHER, CURATOR, SUPERUSER)
ANY, OWN, OTHERS = "any", "own", "others"

JOB_KINDS = ("train_policy", "evaluate", "llm_suggest", "bandit_train", "bandit_screen", "sweep")


@dataclass(frozen=True)
class Rule:
    subject: str  # what the refusal names: "Review sessions are for …"
    cells: Mapping[str, str]
    # The environment API's switch: in POLYPHARMACY_API_AUTH=anonymous mode everyone may (local use).
    open_when_api_anonymous: bool = False
    plural: bool = True


def _queue(kind: str, *principals: str) -> tuple[str, Rule]:
    return f"jobs.queue.{kind}", Rule(f"Queueing {kind} jobs", {p: ANY for p in principals}, plural=False)


# Decisions (README, "Permissions" says why): pharmacists review, supervisors oversee reviews
# and may stop anyone's job, researchers run the compute and read anonymised results, curators
# edit the catalog in the admin and nothing else, superusers run the site (admin, jobs) but get
# no clinical pages from the flag alone — a superuser who reviews is also given the role.
MATRIX: dict[str, Rule] = dict([
    ("patients.view", Rule("The patient list", {PHARMACIST: ANY, SUPERVISOR: ANY}, plural=False)),
    ("review.start", Rule("Starting a review", {PHARMACIST: ANY}, plural=False)),
    # /reviews/, /reviews/<id>/, its audit page and its live feed.
    ("review.view", Rule("Review sessions", {PHARMACIST: OWN, SUPERVISOR: ANY})),
    # Query, intervene, finish, ask for and answer suggestions.
    ("review.act", Rule("Taking steps in a review", {PHARMACIST: OWN}, plural=False)),
    ("review.sign_off", Rule("Signing off a review", {SUPERVISOR: OTHERS}, plural=False)),
    # A returned review is revised by its own pharmacist (reviews.revisions).
    ("review.revise", Rule("Revising a returned review", {PHARMACIST: OWN}, plural=False)),
    # Supervisors comment on the steps of colleagues' reviews (four eyes, like the sign-off).
    ("review.comment", Rule("Commenting on a review's steps", {SUPERVISOR: OTHERS}, plural=False)),
    # /audit/, its downloads and its chain check.
    ("audit.view", Rule("The audit list", {SUPERVISOR: ANY}, plural=False)),
    ("research.view", Rule("The anonymised episodes", {RESEARCHER: ANY, SUPERVISOR: ANY})),
    # /jobs/ and every job's page, /jobs/compare/, /api/jobs (GET), /api/checkpoints.
    ("jobs.view", Rule("Jobs", {RESEARCHER: ANY, SUPERVISOR: ANY, SUPERUSER: ANY})),
    # Training takes a core for hours: the researchers' budget (and the operators').
    _queue("train_policy", RESEARCHER, SUPERUSER),
    _queue("bandit_train", RESEARCHER, SUPERUSER),
    _queue("sweep", RESEARCHER, SUPERUSER),  # training runs, many at once
    _queue("evaluate", RESEARCHER, SUPERVISOR, SUPERUSER),
    _queue("bandit_screen", RESEARCHER, SUPERVISOR, SUPERUSER),
    _queue("llm_suggest", RESEARCHER, SUPERVISOR, SUPERUSER),
    ("jobs.cancel", Rule("Cancelling this job", {RESEARCHER: OWN, SUPERVISOR: ANY, SUPERUSER: ANY}, plural=False)),
    ("jobs.requeue", Rule("Queueing jobs again from the admin", {SUPERUSER: ANY}, plural=False)),
    # /bandit/predict, /bandit/screen, /bandit/metrics: research models, read-only.
    ("bandit.use", Rule("The screening endpoints", {RESEARCHER: ANY, SUPERVISOR: ANY, SUPERUSER: ANY},
                        open_when_api_anonymous=True)),
    # The admin also needs Django's own is_staff flag (its login form checks it).
    ("admin.use", Rule("The admin", {CURATOR: ANY, SUPERUSER: ANY}, plural=False)),
])
for _kind in JOB_KINDS:
    assert f"jobs.queue.{_kind}" in MATRIX, _kind


def principals(user: Any) -> frozenset[str]:
    """The user's principals (their roles, superuser, or no role / anonymous)."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", True):
        return frozenset({ANONYMOUS})
    found = set(user_roles(user))
    if user.is_superuser:
        found.add(SUPERUSER)
    return frozenset(found or {NO_ROLE})


def _rule(action: str) -> Rule:
    try:
        return MATRIX[action]
    except KeyError:
        raise LookupError(f"No permission rule for {action!r}") from None


def scopes(user: Any, action: str) -> frozenset[str]:
    """The scopes the user's principals have for ``action`` (empty: none)."""
    rule = _rule(action)
    if rule.open_when_api_anonymous and settings.POLYPHARMACY_API_AUTH != "required":
        return frozenset({ANY})
    return frozenset(rule.cells[p] for p in principals(user) if p in rule.cells)


def scope(user: Any, action: str) -> str | None:
    """The widest scope for ``action``: ANY, OWN, OTHERS (never both of the last two without
    ANY in this table), or None. For querysets: ANY → all rows, OWN → the user's."""
    found = scopes(user, action)
    for candidate in (ANY, OWN, OTHERS):
        if candidate in found:
            return candidate
    return None


def allowed(user: Any, action: str, *, owner_id: Any = None, on_object: bool = False) -> bool:
    """May ``user`` do ``action``? For an object pass its owner's id (``on_object=True`` when
    the owner may be None, a job nobody owns); without it, whether they may on some object."""
    found = scopes(user, action)
    if not found:
        return False
    if owner_id is None and not on_object:
        return True
    mine = owner_id is not None and owner_id == getattr(user, "pk", None)
    return ANY in found or (OWN in found and mine) or (OTHERS in found and not mine)


def who(action: str) -> list[str]:
    """The principals with a cell for ``action``, in the table's order (for messages, the README)."""
    cells = _rule(action).cells
    return [p for p in PRINCIPALS if p in cells]


def refusal(action: str) -> str:
    """The refusal's message: "Review sessions are for pharmacists (their own) and supervisors." """
    rule = _rule(action)
    suffix = {ANY: "", OWN: " (their own)", OTHERS: " (other people's)"}
    names = [{SUPERUSER: "superusers"}.get(p, p + "s") + suffix[rule.cells[p]] for p in who(action)]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{rule.subject} {'are' if rule.plural else 'is'} for {listed}."


def require(user: Any, action: str, *, owner_id: Any = None, on_object: bool = False) -> None:
    """``allowed`` or PermissionDenied with the rule's message (a 403 page or JSON body)."""
    if not allowed(user, action, owner_id=owner_id, on_object=on_object):
        raise PermissionDenied(refusal(action))
