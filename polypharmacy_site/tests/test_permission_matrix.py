"""The permission matrix (README, "Permissions"), row by row, from the outside: every principal
against every page, API endpoint, job action and admin action, asserting the status code (or the
admin action's outcome) the README's table gives. The expectations are written out here, not read
from ``accounts.permissions``: this is the oracle the module is held to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from catalog.selectors import catalog_cache_clear
from catalog.services import catalog_load
from episodes.sessions import env_cache
from jobs import services as job_services
from jobs.kinds import KINDS
from jobs.models import Job
from accounts import permissions
from reviews import services as review_services
from reviews.audit import RequestMeta
from reviews.models import ReviewSession
from reviews.selectors import research_code

pytestmark = pytest.mark.django_db

PRINCIPALS = ("anonymous", "no role", "pharmacist", "supervisor", "researcher", "curator", "superuser")
PARAMS = {"catalog": "classic"}


def row(*codes: int) -> dict[str, int]:
    assert len(codes) == len(PRINCIPALS)
    return dict(zip(PRINCIPALS, codes))


@dataclass
class World:
    users: dict[str, User | None]
    session: ReviewSession
    job: Job  # the researcher's
    monkeypatch: pytest.MonkeyPatch
    clients: dict[str, Client] = field(default_factory=dict)

    def client(self, principal: str) -> Client:
        if principal not in self.clients:
            client = Client()
            if self.users[principal] is not None:
                client.force_login(self.users[principal])
            self.clients[principal] = client
        return self.clients[principal]

    def url(self, template: str) -> str:
        if "{research}" in template:
            return template.format(research=self.research_code())
        return template.format(session=self.session.pk, job=self.job.pk)

    def research_code(self) -> str:
        """The pseudonym of the session, finished and shown on /research/ (k = 1: one patient
        could not make a row otherwise), for the drill-down's row only."""
        self.session.refresh_from_db()
        if self.session.status == ReviewSession.Status.IN_PROGRESS:
            self.monkeypatch.setattr("reviews.selectors.RESEARCH_K", 1)
            review_services.review_finish(self.session, meta=RequestMeta(user=self.users["pharmacist"]))
        return research_code(self.session.pk)

    def each(self, call: Any) -> dict[str, Any]:
        return {principal: call(principal, self.client(principal)) for principal in PRINCIPALS}


def make_user(name: str, *roles: str, **flags: Any) -> User:
    user = User.objects.create_user(name, **flags)  # no password: nothing to hash, force_login only
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Any) -> Iterator[World]:
    monkeypatch.setattr("jobs.services.job_enqueue", lambda job_id: None)
    settings.JOBS_ARTIFACT_DIR = tmp_path
    catalog_cache_clear()
    env_cache.clear()
    catalog_load(name="classic")
    users: dict[str, User | None] = {
        "anonymous": None, "no role": make_user("oscar"), "pharmacist": make_user("phil", "pharmacist"),
        "supervisor": make_user("sue", "supervisor"), "researcher": make_user("rex", "researcher"),
        "curator": make_user("carla", "curator", is_staff=True), "superuser": User.objects.create_superuser("root"),
    }
    session = review_services.review_start(meta=RequestMeta(user=users["pharmacist"]), patient_id="EP_0002",
                                           task_id="easy_screening", catalog_name="classic")
    job = job_services.job_create(kind="evaluate", params=PARAMS, owner=users["researcher"])
    yield World(users, session, job, monkeypatch)
    catalog_cache_clear()
    env_cache.clear()


# ── pages (GET) ─────────────────────────────────────────────────────────────
#        anonymous, no role, pharmacist, supervisor, researcher, curator, superuser
PAGES = {
    "/patients/?catalog=classic": row(302, 403, 200, 200, 403, 403, 403),
    "/reviews/": row(302, 403, 200, 200, 403, 403, 403),
    "/reviews/{session}/": row(302, 403, 200, 200, 403, 403, 403),  # the pharmacist's own session
    "/reviews/{session}/audit": row(302, 403, 200, 200, 403, 403, 403),
    "/reviews/{session}/live": row(302, 403, 200, 200, 403, 403, 403),  # the page's live fragments
    "/audit/": row(302, 403, 403, 200, 403, 403, 403),
    "/audit/export.csv": row(302, 403, 403, 200, 403, 403, 403),
    "/audit/export.json": row(302, 403, 403, 200, 403, 403, 403),
    "/research/": row(302, 403, 403, 200, 200, 403, 403),
    "/research/{research}/": row(302, 403, 403, 200, 200, 403, 403),
    "/research/export.jsonl": row(302, 403, 403, 200, 200, 403, 403),
    "/research/export.minari.zip": row(302, 403, 403, 200, 200, 403, 403),
    "/jobs/": row(302, 403, 403, 200, 200, 403, 200),
    "/jobs/{job}/": row(302, 403, 403, 200, 200, 403, 200),
    "/jobs/{job}/panel": row(302, 403, 403, 200, 200, 403, 200),
    "/jobs/progress.json?ids={job}": row(302, 403, 403, 200, 200, 403, 200),
    "/jobs/compare/": row(302, 403, 403, 200, 200, 403, 200),
    "/jobs/curves/?ids={job}": row(302, 403, 403, 200, 200, 403, 200),
    "/jobs/new/train_policy/": row(302, 403, 403, 403, 200, 403, 200),
    "/jobs/new/bandit_train/": row(302, 403, 403, 403, 200, 403, 200),
    "/jobs/new/evaluate/": row(302, 403, 403, 200, 200, 403, 200),
    "/jobs/new/bandit_screen/": row(302, 403, 403, 200, 200, 403, 200),
    "/jobs/new/llm_suggest/": row(302, 403, 403, 200, 200, 403, 200),
    "/admin/": row(302, 302, 302, 302, 302, 200, 200),  # staff without curator or superuser: the login
    "/admin/catalog/drug/": row(302, 302, 302, 302, 302, 200, 200),
    "/admin/jobs/job/": row(302, 302, 302, 302, 302, 403, 200),  # curators: no rights on jobs
}


@pytest.mark.parametrize(("url", "expected"), PAGES.items(), ids=list(PAGES))
def test_who_may_open_each_page(world: World, url: str, expected: dict[str, int]) -> None:
    assert world.each(lambda who, client: client.get(world.url(url)).status_code) == expected


def test_each_account_lands_on_the_first_page_it_may_open(world: World) -> None:
    landed = world.each(lambda who, client: (lambda r: r.status_code if r.status_code != 302 else r["Location"])(
        client.get("/")))

    assert landed == {"anonymous": "/accounts/login/?next=/", "no role": 403, "pharmacist": "/reviews/",
                      "supervisor": "/reviews/", "researcher": "/research/", "curator": "/admin/",
                      "superuser": "/jobs/"}


def test_a_pharmacist_cannot_tell_a_colleagues_session_exists(world: World) -> None:
    pia = Client()
    pia.force_login(make_user("pia", "pharmacist"))

    assert pia.get(world.url("/reviews/{session}/")).status_code == 404
    assert pia.get(world.url("/reviews/{session}/audit")).status_code == 404
    assert pia.post(world.url("/reviews/{session}/finish")).status_code == 404


# ── review actions (POST) ───────────────────────────────────────────────────
# at_step 0: the forms as the fresh review's page shows them (only the pharmacist gets to act).
QUERY = {"drug_id_1": "DRUG_TRAMADOL", "drug_id_2": "DRUG_AMITRIPTYLINE", "at_step": 0}
REVIEW_ACTIONS = {
    # Another patient: a second start of the world's own within 30 s is a double submit (303).
    "/reviews/start": ({"catalog": "classic", "patient_id": "EP_0003", "task_id": "easy_screening"},
                       row(302, 403, 302, 403, 403, 403, 403)),
    "/reviews/{session}/query": (QUERY, row(302, 403, 302, 403, 403, 403, 403)),
    "/reviews/{session}/suggest": ({"suggester": "rule-based", "at_step": 0}, row(302, 403, 302, 403, 403, 403, 403)),
    "/reviews/{session}/finish": ({"at_step": 0, "confirmed": "1"}, row(302, 403, 302, 403, 403, 403, 403)),
}


@pytest.mark.parametrize(("url", "body", "expected"), [(u, b, e) for u, (b, e) in REVIEW_ACTIONS.items()],
                         ids=list(REVIEW_ACTIONS))
def test_who_may_act_on_a_review(world: World, url: str, body: dict, expected: dict[str, int]) -> None:
    assert world.each(lambda who, client: client.post(world.url(url), body).status_code) == expected


def test_who_may_sign_off_a_finished_review(world: World) -> None:
    review_services.review_finish(world.session, meta=RequestMeta(user=world.users["pharmacist"]))
    # The first refusal changes nothing; the supervisor's sign-off comes last (it is final).
    order = [p for p in PRINCIPALS if p != "supervisor"] + ["supervisor"]
    got = {who: world.client(who).post(world.url("/reviews/{session}/sign-off"),
                                       {"decision": "approve"}).status_code for who in order}

    assert got == row(302, 403, 403, 302, 403, 403, 403)
    world.session.refresh_from_db()
    assert world.session.status == ReviewSession.Status.APPROVED


def test_who_may_revise_a_returned_review(world: World) -> None:
    meta = RequestMeta(user=world.users["pharmacist"])
    review_services.review_finish(world.session, meta=meta)
    review_services.review_sign_off(world.session, meta=RequestMeta(user=world.users["supervisor"]), approve=False,
                                    comment="Look again.")
    # The pharmacist's revise comes last: it succeeds once.
    order = [p for p in PRINCIPALS if p != "pharmacist"] + ["pharmacist"]
    got = {who: world.client(who).post(world.url("/reviews/{session}/revise")).status_code for who in order}

    assert got == row(302, 403, 302, 403, 403, 403, 403)
    assert ReviewSession.objects.filter(revision_of=world.session).count() == 1


def test_who_may_comment_on_a_step(world: World) -> None:
    review_services.review_step(world.session, meta=RequestMeta(user=world.users["pharmacist"]),
                                action={"action_type": "query_ddi", "drug_id_1": "DRUG_TRAMADOL",
                                        "drug_id_2": "DRUG_AMITRIPTYLINE"})
    got = world.each(lambda who, client: client.post(world.url("/reviews/{session}/comment"),
                                                     {"index": 1, "comment": f"from {who}"}).status_code)

    assert got == row(302, 403, 403, 302, 403, 403, 403)


def test_who_may_check_the_audit_chain_from_the_page(world: World) -> None:
    assert world.each(lambda who, client: client.post("/audit/verify").status_code) == \
        row(302, 403, 403, 302, 403, 403, 403)


def test_nobody_signs_off_their_own_review_even_with_both_roles(world: World) -> None:
    both = make_user("bo", "pharmacist", "supervisor")
    session = review_services.review_start(meta=RequestMeta(user=both), patient_id="EP_0002",
                                           task_id="easy_screening", catalog_name="classic")
    review_services.review_finish(session, meta=RequestMeta(user=both))
    client = Client()
    client.force_login(both)

    assert client.post(f"/reviews/{session.pk}/sign-off", {"decision": "approve"}).status_code == 403


# ── the jobs API ────────────────────────────────────────────────────────────
API_READS = {
    "/api/jobs": row(401, 403, 403, 200, 200, 403, 200),
    "/api/jobs/{job}": row(401, 403, 403, 200, 200, 403, 200),
    "/api/checkpoints": row(401, 403, 403, 200, 200, 403, 200),
}


@pytest.mark.parametrize(("url", "expected"), API_READS.items(), ids=list(API_READS))
def test_who_may_read_the_jobs_api(world: World, url: str, expected: dict[str, int]) -> None:
    assert world.each(lambda who, client: client.get(world.url(url)).status_code) == expected


# bandit_screen: 422 is "allowed, then refused for want of a trained model" (the permission came first).
QUEUE = {
    "train_policy": row(401, 403, 403, 403, 201, 403, 201),
    "bandit_train": row(401, 403, 403, 403, 201, 403, 201),
    "evaluate": row(401, 403, 403, 201, 201, 403, 201),
    "llm_suggest": row(401, 403, 403, 201, 201, 403, 201),
    "bandit_screen": row(401, 403, 403, 422, 422, 403, 422),
    "sweep": row(401, 403, 403, 403, 201, 403, 201),
}
# What each kind is queued with (a sweep's configuration is its "train"; the form posts it as text).
KIND_PARAMS = {"bandit_screen": {}, "sweep": {"train": PARAMS, "seeds": [0]}}
FORM_PARAMS = {"bandit_screen": {}, "sweep": {"train": json.dumps(PARAMS), "seeds": "0"}}


def test_the_matrix_names_every_job_kind() -> None:
    assert set(QUEUE) == set(KINDS) == set(permissions.JOB_KINDS)


@pytest.mark.parametrize(("kind", "expected"), QUEUE.items(), ids=list(QUEUE))
def test_who_may_queue_each_kind_of_job_over_the_api(world: World, kind: str, expected: dict[str, int]) -> None:
    body = json.dumps({"kind": kind, "params": KIND_PARAMS.get(kind, PARAMS)})

    got = world.each(lambda who, client: client.post("/api/jobs", body, content_type="application/json").status_code)

    assert got == expected
    assert Job.objects.filter(kind=kind).exclude(pk=world.job.pk).count() == list(expected.values()).count(201)


@pytest.mark.parametrize(("kind", "expected"), QUEUE.items(), ids=list(QUEUE))
def test_who_may_queue_each_kind_of_job_from_the_form(world: World, kind: str, expected: dict[str, int]) -> None:
    as_page = {201: 302, 401: 302, 422: 422}
    got = world.each(lambda who, client: client.post(f"/jobs/new/{kind}/", FORM_PARAMS.get(kind, PARAMS)).status_code)

    assert got == {who: as_page.get(code, code) for who, code in expected.items()}


def cancel_each(world: World, owner: User | None, *, page: bool) -> dict[str, int]:
    def cancel(who: str, client: Client) -> int:
        job = job_services.job_create(kind="evaluate", params=PARAMS, owner=owner)
        return client.post(f"/jobs/{job.pk}/cancel" if page else f"/api/jobs/{job.pk}/cancel").status_code
    return world.each(cancel)


def test_who_may_cancel_a_researchers_job_over_the_api(world: World) -> None:
    assert cancel_each(world, world.users["researcher"], page=False) == row(401, 403, 403, 200, 200, 403, 200)


def test_who_may_cancel_someone_elses_job_over_the_api(world: World) -> None:
    other = make_user("ruth", "researcher")

    assert cancel_each(world, other, page=False) == row(401, 403, 403, 200, 403, 403, 200)


def test_who_may_cancel_a_job_from_its_page(world: World) -> None:
    assert cancel_each(world, world.users["researcher"], page=True) == row(302, 403, 403, 302, 302, 403, 302)
    assert cancel_each(world, make_user("ruth", "researcher"), page=True) == row(302, 403, 403, 302, 403, 403, 302)


# ── the admin's job actions ─────────────────────────────────────────────────
def admin_action(world: World, action: str) -> dict[str, tuple[int, int]]:
    def run(who: str, client: Client) -> tuple[int, int]:
        job = job_services.job_create(kind="evaluate", params=PARAMS, owner=world.users["researcher"])
        response = client.post("/admin/jobs/job/", {"action": action, "_selected_action": [job.pk]})
        job.refresh_from_db()
        copies = Job.objects.filter(pk__gt=job.pk).count()
        return response.status_code, (copies if action == "requeue_jobs" else int(job.status == Job.Status.CANCELLED))
    return world.each(run)


def test_only_a_superuser_queues_jobs_again_from_the_admin(world: World) -> None:
    done = admin_action(world, "requeue_jobs")

    assert done == {"anonymous": (302, 0), "no role": (302, 0), "pharmacist": (302, 0), "supervisor": (302, 0),
                    "researcher": (302, 0), "curator": (403, 0), "superuser": (302, 1)}


def test_only_a_superuser_cancels_jobs_from_the_admin(world: World) -> None:
    done = admin_action(world, "cancel_jobs")

    assert done == {"anonymous": (302, 0), "no role": (302, 0), "pharmacist": (302, 0), "supervisor": (302, 0),
                    "researcher": (302, 0), "curator": (403, 0), "superuser": (302, 1)}


def test_the_admin_hides_the_job_actions_from_whoever_may_not_use_them(world: World) -> None:
    staff_researcher = make_user("stan", "researcher", is_staff=True)
    assert not permissions.allowed(staff_researcher, "admin.use")  # the admin is not theirs at all
    root = world.client("superuser").get("/admin/jobs/job/").content.decode()

    assert 'value="requeue_jobs"' in root and 'value="cancel_jobs"' in root


# ── the screening endpoints ─────────────────────────────────────────────────
BANDIT = [  # (method, url, body, expected when the API needs a user); 409: allowed, no model trained yet
    ("GET", "/bandit/metrics", None, row(401, 403, 403, 409, 409, 403, 409)),
    ("POST", "/bandit/predict", {"combination": ["DRUG_WARFARIN", "DRUG_ASPIRIN"]}, row(401, 403, 403, 409, 409, 403, 409)),
    ("POST", "/bandit/screen", {"combinations": [["DRUG_WARFARIN"]]}, row(401, 403, 403, 409, 409, 403, 409)),
]


def call(client: Client, method: str, url: str, body: Any) -> int:
    if method == "GET":
        return client.get(url).status_code
    return client.post(url, json.dumps(body), content_type="application/json").status_code


@pytest.mark.parametrize(("method", "url", "body", "expected"), BANDIT, ids=[b[1] for b in BANDIT])
def test_who_may_use_the_screening_endpoints_when_the_api_needs_a_user(
        world: World, settings: Any, method: str, url: str, body: Any, expected: dict[str, int]) -> None:
    settings.POLYPHARMACY_API_AUTH = "required"

    assert world.each(lambda who, client: call(client, method, url, body)) == expected


@pytest.mark.parametrize(("method", "url", "body"), [b[:3] for b in BANDIT], ids=[b[1] for b in BANDIT])
def test_everyone_may_use_the_screening_endpoints_while_the_api_is_anonymous(world: World, method: str, url: str,
                                                                            body: Any) -> None:
    assert world.each(lambda who, client: call(client, method, url, body)) == row(*[409] * len(PRINCIPALS))


def test_refusals_say_who_may(world: World) -> None:
    page = world.client("curator").get("/jobs/new/train_policy/")
    api = world.client("supervisor").post("/api/jobs", json.dumps({"kind": "train_policy", "params": PARAMS}),
                                          content_type="application/json")

    assert "Jobs are for supervisors, researchers and superusers." in world.client("curator").get("/jobs/").content.decode()
    assert page.status_code == 403
    assert api.json() == {"detail": "Queueing train_policy jobs is for researchers and superusers."}
