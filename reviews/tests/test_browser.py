"""End to end in a real browser (Debian's Chromium driven by Playwright) against a real server
process: a pharmacist reviews a patient while a supervisor watches the steps arrive live
(including one taken by an API client), with the rows the page itself renders (badges, words,
doses); the sign-off form appears on the supervisor's page when the review finishes, and the
live badge goes from both pages once it is signed off; outsiders are refused; a researcher
drills into an episode of /research/.

Screenshots of the review, audit and research episode pages go to ``ci-artifacts/screenshots/``.
Skipped, with the reason, where Chromium or Playwright is missing, unless CI_REQUIRE_SERVICES=1
(CI), where a missing browser fails instead.
"""

from __future__ import annotations

import re

import pytest

from testsupport.live_server import LiveServer
# new_page and SCREENSHOTS too: other apps' browser tests import them from here.
from reviews.tests.browser import (  # noqa: F401
    PASSWORD,
    RESEARCH_PATIENTS,
    RESEARCH_REVIEWS,
    SCREENSHOTS,
    api_step,
    browser,
    log_in,
    new_page,
    screenshot,
    users_script,
)

pytestmark = pytest.mark.live

PATIENT, SEVERE_PAIR, SUBSTITUTION = "CUR_E_0001", ("DRUG_SOTALOL", "DRUG_VERAPAMIL"), ("DRUG_SOTALOL", "DRUG_PROPRANOLOL")


@pytest.fixture(scope="module")
def server():
    with LiveServer() as server:
        server.manage("shell", "-c", users_script(phil="pharmacist", pia="pharmacist", sue="supervisor", rex="researcher"))
        yield server


def same_html(live_page, fresh_page, selector: str) -> None:
    """What arrived live is what a reload renders (badges, words, numbers), but for the CSRF
    token each rendering of a form carries."""
    token = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
    assert token.sub("", live_page.inner_html(selector)) == token.sub("", fresh_page.inner_html(selector))


def test_a_review_watched_live_signed_off_and_refused_to_outsiders(browser, server):
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
    fresh = log_in(browser, server, "sue")  # reloads, to compare with what arrived live

    # 1. The pharmacist queries the severe pair; the supervisor sees it without reloading, with
    # its severity badge, exactly as the page renders it.
    pharmacist.select_option("#id_drug_id_1", SEVERE_PAIR[0])
    pharmacist.select_option("#id_drug_id_2", SEVERE_PAIR[1])
    pharmacist.click("#query-form button[type=submit]")
    pharmacist.wait_for_selector('#history tr[data-index="1"]')
    row = supervisor.wait_for_selector('#history tr[data-index="1"] .badge.sev-severe', timeout=10_000)
    assert row.inner_text() == "severe"
    assert "sotalol + verapamil" in supervisor.inner_text("#last-result")
    fresh.goto(review_url)
    same_html(supervisor, fresh, '#history tr[data-index="1"]')

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

    # 3. A substitution restricted to the drug's class: the doses of the live medication table
    # are the page's; then finish (confirmed): the score is shown, and the supervisor's page
    # offers the sign-off form without a reload.
    pharmacist.select_option("#id_target_drug_id", SUBSTITUTION[0])
    pharmacist.select_option("#id_intervention_type", "substitute")
    pharmacist.select_option("#id_proposed_new_drug_id", SUBSTITUTION[1])
    pharmacist.fill("#id_rationale", "Sotalol with verapamil: bradycardia and AV block.")
    pharmacist.click("#intervention-form button[type=submit]")
    assert "propranolol" in supervisor.wait_for_selector('#history tr[data-index="3"]', timeout=10_000).inner_text()
    assert supervisor.locator('#history tr[data-index="3"] .badge.b-substitute').count() == 1
    fresh.goto(review_url)
    same_html(supervisor, fresh, '#history tr[data-index="3"]')
    same_html(supervisor, fresh, "#medications tbody")
    pharmacist.once("dialog", lambda dialog: dialog.accept())
    pharmacist.click("#finish-form button[type=submit]")
    score = pharmacist.wait_for_selector("#final-score").inner_text()
    assert 0 < float(score) < 1
    supervisor.wait_for_selector("#sign-off-form", timeout=10_000)
    assert supervisor.inner_text("#session-status").lower() == "finished"
    screenshot(pharmacist, "review-finished.png")

    # 4. The supervisor signs off; the pharmacist's page shows it and its live badge goes (as
    # the supervisor's own); the audit page shows the whole trail.
    supervisor.check('#sign-off-form input[value="approve"]')
    supervisor.fill("#id_comment", "Substitution appropriate.")
    supervisor.click("#sign-off-form button[type=submit]")
    assert "approved" in supervisor.wait_for_selector("#sign-off-result").inner_text().lower()
    assert supervisor.locator("#live-state").count() == 0
    pharmacist.wait_for_selector("#sign-off-result", timeout=10_000)
    pharmacist.wait_for_selector("#live-state", state="detached", timeout=10_000)
    # Four steps, all taken on the page (the API client's was refused): each one audited.
    supervisor.goto(review_url + "audit")
    actions = supervisor.locator("#audit tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions[0] == "session.started" and "session.approved" in actions and actions.count("step.taken") == 4

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
    screenshot(researcher, "research-episode.png")

    # The audit chain of this real run verifies, and the policy blocked nothing on the way.
    assert re.match(r"\d+ records verified\nthe chain extends all \d+ checkpoints", server.manage("verify_audit"))
    for page in (pharmacist, supervisor, researcher, fresh):
        assert page.csp_violations == []
