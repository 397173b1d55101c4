"""In a real browser (Debian's Chromium via Playwright) against a real server: the pages the review
and job browser tests do not visit — the Swagger docs, the admin (lists, a change form with its
autocomplete widgets, a history page), a job's page, the login lockout — work under the
Content-Security-Policy, with nothing blocked. Skipped where Chromium or Playwright is missing,
except in CI (CI_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import re

import pytest

from testsupport.live_server import LiveServer
from reviews.tests.test_browser import PASSWORD, browser, log_in, new_page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.live, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def server():
    with LiveServer() as server:
        for username, role in (("rex", "researcher"), ("carla", "curator")):
            server.manage("create_user", username, "--role", role, "--password", PASSWORD)
        server.manage("shell", "-c", "from django.contrib.auth.models import User; "
                      f"User.objects.create_superuser('root', password={PASSWORD!r})")
        yield server


def test_the_docs_the_admin_and_a_jobs_page_work_under_the_policy(browser, server):  # noqa: F811
    pages = []
    docs = new_page(browser, server)
    pages.append(docs)
    docs.goto("/docs")
    docs.wait_for_selector(".swagger-ui .opblock-summary", timeout=30_000)  # it fetched and drew the schema
    assert docs.locator(".swagger-ui .opblock-summary").count() > 10

    curator = log_in(browser, server, "carla", landing=r".*/admin/$")
    pages.append(curator)
    curator.goto("/admin/catalog/ddirule/")
    curator.click("#result_list tbody tr th a")
    curator.wait_for_url(re.compile(r".*/change/$"))
    curator.click(".field-drug_1 .select2-selection")  # the autocomplete widget opens and asks the server
    curator.wait_for_selector(".select2-results__option", timeout=10_000)
    curator.keyboard.press("Escape")
    curator.goto(curator.url.replace("/change/", "/history/"))
    curator.wait_for_selector("#change-history, p.paginator")

    root = log_in(browser, server, "root", landing=r".*/jobs/$")
    pages.append(root)
    for url in ("/admin/", "/admin/jobs/job/", "/admin/auth/user/add/", "/admin/reviews/auditrecord/"):
        assert root.goto(url).status == 200, url

    researcher = log_in(browser, server, "rex")
    pages.append(researcher)
    researcher.goto("/jobs/new/evaluate/")
    researcher.fill("#id_episodes", "2")
    researcher.click("form.job-form button[type=submit]")
    researcher.wait_for_url(re.compile(r".*/jobs/\d+/$"))
    researcher.wait_for_timeout(3500)  # two polls of the progress feed (no worker: it stays queued)
    assert researcher.locator(".job-progress progress.fill").count() == 1
    researcher.goto("/jobs/")
    researcher.goto("/jobs/compare/")

    assert [v for page in pages for v in page.csp_violations] == []


def test_a_locked_login_shows_its_page_under_the_policy(browser, server):  # noqa: F811
    # Last in this module: ten failures lock this address for every later login here.
    page = new_page(browser, server)
    for i in range(10):
        page.goto("/accounts/login/")
        page.fill("#id_username", "ghost")
        page.fill("#id_password", f"wrong-{i}")
        page.click("form button[type=submit]")
    page.goto("/accounts/login/")
    page.fill("#id_username", "rex")
    page.fill("#id_password", PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("form button[type=submit]")

    assert answer.value.status == 429
    assert "locked for 15 more minutes" in page.inner_text("#lockout-message")
    assert page.csp_violations == []
