"""End to end in a real browser (Debian's Chromium driven by Playwright) against a real server
process: a pharmacist reviews a patient while a supervisor watches the steps arrive live
(including one taken by an API client), then signs off; outsiders are refused; a researcher
drills into an episode of /research/.

Screenshots of the review, audit and research episode pages go to ``ci-artifacts/screenshots/``. Skipped, with
the reason, where Chromium or Playwright is missing, unless CI_REQUIRE_SERVICES=1 (CI), where a
missing browser fails instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from polypharmacy_site.live_server import ROOT, LiveServer

pytestmark = pytest.mark.live

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # another build of it, say one unpacked elsewhere
SCREENSHOTS = ROOT / "ci-artifacts" / "screenshots"
PASSWORD = "browser-test-password-1"
PATIENT, SEVERE_PAIR, SUBSTITUTION = "CUR_E_0001", ("DRUG_SOTALOL", "DRUG_VERAPAMIL"), ("DRUG_SOTALOL", "DRUG_PROPRANOLOL")


# Five classic easy_screening patients whose baseline risks share a bin (reviews/tests/test_research.py).
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


@pytest.fixture(scope="module")
def server():
    with LiveServer() as server:
        for username, role in (("phil", "pharmacist"), ("pia", "pharmacist"), ("sue", "supervisor"), ("rex", "researcher")):
            server.manage("create_user", username, "--role", role, "--password", PASSWORD)
        yield server


def new_page(browser, server):
    """A page of a fresh context that collects what the Content-Security-Policy blocked
    (``page.csp_violations``: Chromium reports each refusal on the console)."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.csp_violations = []
    page.on("console", lambda message: page.csp_violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text else None)
    return page


def log_in(browser, server, username, landing=r".*/(reviews|research)/$"):
    page = new_page(browser, server)
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(landing))
    return page


def api_step(server, token, episode_id, action):
    body = json.dumps({"action": action, "episode_id": episode_id}).encode()
    request = Request(server.url + "/step", data=body, method="POST",
                      headers={"Content-Type": "application/json", "Authorization": f"Token {token}"})
    try:
        with urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_review_watched_live_signed_off_and_refused_to_outsiders(browser, server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pharmacist = log_in(browser, server, "phil")
    pharmacist.goto(f"/patients/?catalog=curated&task=easy_screening&q={PATIENT}")
    pharmacist.click(f'tr[data-patient="{PATIENT}"] button[type=submit]')
    pharmacist.wait_for_url(re.compile(r".*/reviews/\d+/$"))
    review_url = pharmacist.url
    episode_id = pharmacist.get_attribute("#review", "data-episode")

    supervisor = log_in(browser, server, "sue")
    supervisor.goto(review_url)
    supervisor.wait_for_selector("#live-state.on")
    pharmacist.wait_for_selector("#live-state.on")

    # 1. The pharmacist queries the severe pair; the supervisor sees it without reloading.
    pharmacist.select_option("#id_drug_id_1", SEVERE_PAIR[0])
    pharmacist.select_option("#id_drug_id_2", SEVERE_PAIR[1])
    pharmacist.click("#query-form button[type=submit]")
    pharmacist.wait_for_selector('#history tr[data-index="1"]')
    row = supervisor.wait_for_selector('#history tr[data-index="1"]', timeout=10_000)
    assert "severe" in row.inner_text()

    # 2. An API client with the pharmacist's own token may not step the review (409, nothing
    # taken); the pharmacist takes that query on the page, and both pages show it.
    token = server.manage("drf_create_token", "phil").split()[2]
    status, body = api_step(server, token, episode_id, {"action_type": "query_ddi", "drug_id_1": "DRUG_AMITRIPTYLINE",
                                                        "drug_id_2": "DRUG_GABAPENTIN"})
    assert status == 409 and "is a review session" in body["detail"]
    pharmacist.select_option("#id_drug_id_1", "DRUG_AMITRIPTYLINE")
    pharmacist.select_option("#id_drug_id_2", "DRUG_GABAPENTIN")
    pharmacist.click("#query-form button[type=submit]")
    assert "review:phil" in supervisor.wait_for_selector('#history tr[data-index="2"]', timeout=10_000).inner_text()
    pharmacist.wait_for_selector('#history tr[data-index="2"]', timeout=10_000)

    # 3. A substitution restricted to the drug's class, then finish: the score is shown.
    pharmacist.select_option("#id_target_drug_id", SUBSTITUTION[0])
    pharmacist.select_option("#id_intervention_type", "substitute")
    pharmacist.select_option("#id_proposed_new_drug_id", SUBSTITUTION[1])
    pharmacist.fill("#id_rationale", "Sotalol with verapamil: bradycardia and AV block.")
    pharmacist.click("#intervention-form button[type=submit]")
    assert SUBSTITUTION[1] in supervisor.wait_for_selector('#history tr[data-index="3"]', timeout=10_000).inner_text()
    pharmacist.click("#finish-form button[type=submit]")
    score = pharmacist.wait_for_selector("#final-score").inner_text()
    assert 0 < float(score) < 1
    supervisor.wait_for_selector('#history tr[data-index="4"]', timeout=10_000)
    pharmacist.screenshot(path=str(SCREENSHOTS / "review-page.png"), full_page=True)

    # 4. The supervisor signs off; the audit page shows the whole trail.
    supervisor.reload()
    supervisor.check('#sign-off-form input[value="approve"]')
    supervisor.fill("#id_comment", "Substitution appropriate.")
    supervisor.click("#sign-off-form button[type=submit]")
    assert "approved" in supervisor.wait_for_selector("#sign-off-result").inner_text().lower()
    # Four steps, all taken on the page (the API client's was refused): each one audited.
    supervisor.goto(review_url + "audit")
    actions = supervisor.locator("#audit tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions[0] == "session.started" and "session.approved" in actions and actions.count("step.taken") == 4
    supervisor.screenshot(path=str(SCREENSHOTS / "audit-page.png"), full_page=True)

    # 5. Outsiders: a researcher is refused (403), a colleague does not even see it (404).
    researcher = log_in(browser, server, "rex")
    assert researcher.goto(review_url).status == 403
    colleague = log_in(browser, server, "pia")
    assert colleague.goto(review_url).status == 404

    # 6. The researcher drills into an episode of /research/. A row needs the reviews of five
    # patients sharing its bins: five classic reviews made directly (a query and a finish each:
    # queries move neither risk nor score, so the five share their bins).
    server.manage("shell", "-c", RESEARCH_REVIEWS)
    researcher.goto("/research/?catalog=classic&task=easy_screening")
    assert researcher.locator("#research tbody tr[data-code]").count() == len(RESEARCH_PATIENTS)
    researcher.click("#research tbody tr[data-code] a")
    researcher.wait_for_url(re.compile(r".*/research/[0-9a-f]{12}/\?catalog=classic&task=easy_screening$"))
    steps = researcher.locator("#research-steps tbody tr").all_inner_texts()
    assert len(steps) == 2 and steps[0].startswith("1\tquery DRUG_") and "finish review" in steps[1], steps
    main = researcher.inner_text("main")
    assert "phil" not in main and not any(p in main for p in RESEARCH_PATIENTS)
    researcher.screenshot(path=str(SCREENSHOTS / "research-episode.png"), full_page=True)

    # The audit chain of this real run verifies, and the policy blocked nothing on the way.
    assert re.match(r"\d+ records verified\nthe chain extends all \d+ checkpoints", server.manage("verify_audit"))
    assert pharmacist.csp_violations == [] and supervisor.csp_violations == [] and researcher.csp_violations == []
