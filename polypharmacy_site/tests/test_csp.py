"""The Content-Security-Policy (django-csp), in every mode: the header on every page, and no page
that it would break — no inline script or style of ours, no event-handler attributes; the one
inline style of django-simple-history's allowed by its hash, which must match the installed
template."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import django
import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.test import Client

from catalog.models import DDIRule
from catalog.services import catalog_load
from jobs import services as job_services
from polypharmacy_site.tests.csp import csp_problems, directives, sha256_source
from reviews import services as review_services
from reviews.audit import RequestMeta
from reviews.tests.conftest import fresh_caches  # noqa: F401  (autouse: the catalog and session caches start empty)

ROOT = Path(__file__).resolve().parents[2]
SITE_PACKAGES = Path(django.__file__).parent.parent
OUR_TEMPLATES = [p for app in ("reviews", "jobs", "episodes", "bandits", "catalog") for p in (ROOT / app).rglob("*.html")]


def user(name: str, *roles: str, **flags: Any) -> User:
    person = User.objects.create_user(name, **flags)
    for role in roles:
        person.groups.add(Group.objects.get(name=role))
    return person


def client_for(person: User | None) -> Client:
    client = Client(HTTP_USER_AGENT="csp-test")
    if person is not None:
        client.force_login(person)
    return client


def problems_on(client: Client, urls: list[str], *, statuses: tuple[int, ...] = (200,)) -> dict[str, list[str]]:
    """For each URL: what its policy would block, or why the page itself is wrong."""
    found: dict[str, list[str]] = {}
    for url in urls:
        response = client.get(url)
        header = response.get("Content-Security-Policy", "")
        if response.status_code not in statuses:
            found[url] = [f"status {response.status_code}"]
        elif "script-src 'self'" not in header or "'unsafe-inline'" in header or "'unsafe-eval'" in header:
            found[url] = [f"policy {header!r}"]
        else:
            blocked = csp_problems(response.content.decode(), header)
            if blocked:
                found[url] = blocked
    return found


def test_the_policy_allows_only_this_site_and_one_pinned_hash() -> None:
    policy = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]

    assert policy["script-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["style-src-attr"] == ["'unsafe-hashes'", settings.HISTORY_PAGINATOR_STYLE_HASH]


def test_the_hash_matches_the_installed_history_template() -> None:
    history = (SITE_PACKAGES / "simple_history/templates/simple_history/object_history_list.html").read_text()

    (attribute,) = re.findall(r'style="([^"]*)"', history)
    assert sha256_source(attribute) == settings.HISTORY_PAGINATOR_STYLE_HASH


@pytest.mark.parametrize("template", OUR_TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_of_ours_has_inline_script_style_or_handlers(template: Path) -> None:
    text = template.read_text()

    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
    assert not re.search(r"<style\b", text) and not re.search(r"\sstyle=", text), "inline style"
    assert not re.search(r"\son[a-z]+\s*=", text) and "javascript:" not in text, "event handler"


def test_no_html_our_python_writes_has_a_style_attribute() -> None:
    for path in [*ROOT.glob("*/admin.py"), *ROOT.glob("*/plots.py"), *ROOT.glob("*/presenters.py")]:
        assert 'style="' not in path.read_text(), path


@pytest.mark.django_db
def test_the_review_pages_break_nothing_under_the_policy() -> None:
    catalog_load(name="classic")
    phil, sue, rex = user("phil", "pharmacist"), user("sue", "supervisor"), user("rex", "researcher")
    session = review_services.review_start(meta=RequestMeta(user=phil), patient_id="EP_0002",
                                           task_id="easy_screening", catalog_name="classic")
    pages = {
        None: ["/accounts/login/", "/admin/login/", "/docs"],
        phil: ["/patients/?catalog=classic", "/reviews/", f"/reviews/{session.pk}/", f"/reviews/{session.pk}/audit",
               "/accounts/password/"],
        sue: [f"/reviews/{session.pk}/", "/audit/", "/research/"],
        rex: ["/research/"],
    }
    found = {f"{who or 'anonymous'} {url}": problems for who, urls in pages.items()
             for url, problems in problems_on(client_for(who), urls).items()}
    found.update(problems_on(client_for(user("oscar")), ["/patients/?catalog=classic"], statuses=(403,)))

    assert found == {}


@pytest.mark.django_db
def test_the_job_pages_and_their_plots_break_nothing_under_the_policy(settings, tmp_path) -> None:
    settings.JOBS_ARTIFACT_DIR = tmp_path
    catalog_load(name="classic")
    rex = user("rex", "researcher")
    job = job_services.job_create(kind="evaluate", params={"catalog": "classic", "task_id": "easy_screening",
                                                           "episodes": 3}, owner=rex)
    job_services.job_execute(job_id=job.pk, worker="pytest:1")
    urls = ["/jobs/", f"/jobs/{job.pk}/", f"/jobs/{job.pk}/panel", "/jobs/compare/", f"/jobs/curves/?ids={job.pk}",
            *[f"/jobs/new/{kind}/" for kind in ("train_policy", "evaluate", "llm_suggest", "bandit_train",
                                                "bandit_screen", "sweep")]]

    assert problems_on(client_for(rex), urls) == {}
    assert "<svg" in client_for(rex).get(f"/jobs/{job.pk}/").content.decode()


@pytest.mark.django_db
def test_the_admin_breaks_nothing_under_the_policy(settings, tmp_path) -> None:
    settings.JOBS_ARTIFACT_DIR = tmp_path
    catalog_load(name="classic")
    root = User.objects.create_superuser("root")
    job = job_services.job_create(kind="evaluate", params={"catalog": "classic", "episodes": 2}, owner=root)
    job_services.job_execute(job_id=job.pk, worker="pytest:1")
    rule = DDIRule.objects.first()
    urls = ["/admin/", "/admin/catalog/ddirule/", f"/admin/catalog/ddirule/{rule.pk}/change/",
            f"/admin/catalog/ddirule/{rule.pk}/history/", "/admin/jobs/job/", f"/admin/jobs/job/{job.pk}/change/",
            "/admin/reviews/reviewsession/", "/admin/reviews/auditrecord/", "/admin/axes/accessattempt/",
            "/admin/auth/user/add/", "/admin/authtoken/tokenproxy/add/"]

    assert problems_on(client_for(root), urls) == {}


def test_the_page_checker_sees_what_a_browser_would_block() -> None:
    header = "default-src 'self'; script-src 'self'; style-src 'self'"

    assert csp_problems('<script src="/static/x.js"></script><p class="x">ok</p>', header) == []
    assert len(csp_problems("<script>alert(1)</script>", header)) == 1
    assert len(csp_problems('<button onclick="go()">x</button>', header)) == 1
    assert len(csp_problems('<span style="width: 3%"></span><style>p{}</style>', header)) == 2
    assert csp_problems('<script type="application/json">{"a": 1}</script>', header) == []
    assert directives(header)["style-src"] == ["'self'"]
