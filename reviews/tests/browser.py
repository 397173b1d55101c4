"""What the browser tests share: Debian's Chromium driven by Playwright (never a downloaded
browser), one browser and one live server per test module, pages that collect what the
Content-Security-Policy blocked, logging in, and the two page checks every page gets: no
horizontal scrolling at a phone's width, and axe-core's accessibility rules.

Skipped, with the reason, where Chromium or Playwright is missing, unless CI_REQUIRE_SERVICES=1
(CI), where a missing browser fails instead."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from testsupport.live_server import ROOT
from testsupport.world import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # another build of it, say one unpacked elsewhere
SCREENSHOTS = ROOT / "ci-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
def users_script(**roles: str) -> str:
    """A script for `manage.py shell -c` that creates these users (name=role) with PASSWORD: one
    command for all of them, as each command costs seconds of start-up."""
    lines = ["from django.core.management import call_command"]
    lines += [f"call_command('create_user', {name!r}, '--role', {role!r}, '--password', {PASSWORD!r})"
              for name, role in roles.items()]
    return "\n".join(lines) + "\n"


# Five classic easy_screening patients whose baseline risks share a bin (reviews/tests/test_research.py),
# and a script for `manage.py shell -c` that gives each a finished review of phil's: /research/
# shows a row only when the reviews of five patients share its bins.
RESEARCH_PATIENTS = ("EP_0006", "EP_0015", "EP_0018", "EP_0024", "EP_0026")
RESEARCH_REVIEWS = f"""
from django.contrib.auth.models import User
from catalog.selectors import catalog_get
from reviews import services
from reviews.audit import RequestMeta
meta = RequestMeta(user=User.objects.get(username="phil"))
for patient_id in {RESEARCH_PATIENTS!r}:
    session = services.review_start(meta=meta, patient_id=patient_id, task_id="easy_screening", catalog_name="classic")
    a, b = catalog_get("classic").patients[patient_id].medication_ids[:2]
    services.review_step(session, meta=meta, action={{"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b}})
    services.review_finish(session, meta=meta)
"""
# axe-core, vendored with its licence (reviews/tests/assets/README.md): nothing is fetched at test time.
AXE = Path(__file__).resolve().parent / "assets" / "axe-4.14.1.min.js"


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium; CI does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright package (pip install -r requirements-dev.txt)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("CI_REQUIRE_SERVICES", "") == "1":
            pytest.fail(f"CI_REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Never a downloaded browser: the distribution's Chromium, headless, no network chatter.
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run",
        ])
        yield browser
        browser.close()


def new_page(browser, server, viewport=DESKTOP):
    """A page of a fresh context that collects what the Content-Security-Policy blocked
    (``page.csp_violations``: Chromium reports each refusal on the console)."""
    context = browser.new_context(base_url=server.url, viewport=viewport)
    page = context.new_page()
    page.csp_violations = []
    page.on("console", lambda message: page.csp_violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text else None)
    return page


def log_in(browser, server, username, landing=r".*/(reviews|research)/$", viewport=DESKTOP):
    page = new_page(browser, server, viewport)
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(landing))
    return page


def screenshot(target, name: str) -> None:
    """A page (all of it) or one element of it (a locator) to ``ci-artifacts/screenshots/<name>``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if hasattr(target, "goto"):
        target.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    else:
        target.screenshot(path=str(SCREENSHOTS / name))


def page_width(page) -> int:
    """How wide the page is laid out: more than the viewport means horizontal scrolling."""
    return page.evaluate("document.documentElement.scrollWidth")


def too_wide(page) -> list[str]:
    """The elements that reach furthest past the viewport's right edge (for a failure's message)."""
    return page.evaluate("""() => {
        const width = document.documentElement.clientWidth, found = [];
        const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement)
            if (getComputedStyle(p).overflowX !== 'visible') return true; return false; };
        for (const el of document.body.querySelectorAll('*')) {
            const right = el.getBoundingClientRect().right;
            if (right > width + 0.5 && !scrolls(el)) found.push([right, el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).join('.') : '')]);
        }
        found.sort((a, b) => b[0] - a[0]);
        return found.slice(0, 6).map(f => f[1] + ' ' + Math.round(f[0]) + 'px');
    }""")


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    """axe-core's violations of the given impacts on the page as it is now, one line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))  # through the debugging protocol: not subject to the CSP
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] for n in v["nodes"][:5])
            for v in result["violations"] if v["impact"] in impacts]


def in_viewport(page, selector: str) -> bool:
    """Whether the element is at least partly on screen, without scrolling."""
    return page.evaluate("""sel => { const r = document.querySelector(sel).getBoundingClientRect();
        return r.bottom > 0 && r.top < window.innerHeight && r.height > 0; }""", selector)


def api_step(server, token, episode_id, action):
    body = json.dumps({"action": action, "episode_id": episode_id}).encode()
    request = Request(server.url + "/step", data=body, method="POST",
                      headers={"Content-Type": "application/json", "Authorization": f"Token {token}"})
    try:
        with urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read())
