"""The review as a clinical pharmacist and a supervisor use it, in Debian's Chromium against a real
server (one for the module): the interaction panel of a severe query, the pairs matrix and the
warning before a pair is asked twice, refusals in view after the post, the confirmation before
finishing, the outcome, return → revise → re-submit → approve with the audit chain checked from
the page, and every page at a phone's width (390 px) with axe-core's accessibility check.

Screenshots go to ``ci-artifacts/screenshots/``."""

from __future__ import annotations

import re

import pytest

from testsupport.live_server import LiveServer
from reviews.tests.browser import (
    PHONE,
    RESEARCH_REVIEWS,
    axe_violations,
    browser,  # noqa: F401  (the module's browser fixture)
    in_viewport,
    log_in,
    new_page,
    page_width,
    screenshot,
    too_wide,
    users_script,
)

pytestmark = pytest.mark.live

EASY, SEVERE = "CUR_E_0001", ("DRUG_SOTALOL", "DRUG_VERAPAMIL")  # amitriptyline, gabapentin, sotalol, verapamil
COMPLEX = "CUR_C_0001"  # twelve drugs, critical ones among them
RETURNED = "CUR_E_0004"  # apixaban, bisoprolol, meloxicam, tramadol
# The users, /research/'s five reviews and a queued job for the jobs pages, in one management
# command: each costs seconds of start-up.
SETUP = users_script(phil="pharmacist", pia="pharmacist", sue="supervisor", rex="researcher") + RESEARCH_REVIEWS + f"""
from jobs.services import job_create
print(job_create(kind="evaluate", params={{"catalog": "classic"}}, owner=User.objects.get(username="rex")).pk)
"""


@pytest.fixture(scope="module")
def server():
    with LiveServer() as server:
        server.job_id = int(server.manage("shell", "-c", SETUP).split()[-1])  # type: ignore[attr-defined]  # this module's note
        yield server


def start_review(page, patient: str, task: str) -> str:
    catalog = "curated" if patient.startswith("CUR_") else "classic"
    page.goto(f"/patients/?catalog={catalog}&task={task}&q={patient}")
    page.click(f'tr[data-patient="{patient}"] button[type=submit]')
    page.wait_for_url(re.compile(r".*/reviews/\d+/$"))
    return page.url


def query(page, a: str, b: str, *, again: bool = False) -> None:
    page.select_option("#id_drug_id_1", a)
    page.select_option("#id_drug_id_2", b)
    if again:
        page.check("#id_repeat")
    page.click("#query-button")
    page.wait_for_load_state()


def finish(page) -> None:
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#finish-form button[type=submit]")
    page.wait_for_selector("#final-score")


def test_a_severe_query_shows_its_panel_marks_its_pair_and_a_repeat_is_warned_before_it_is_spent(browser, server):
    page = log_in(browser, server, "phil")
    start_review(page, EASY, "easy_screening")
    query(page, *SEVERE)

    # The result is where the eye is: focused, on screen, with the catalog's stored facts.
    page.wait_for_url(re.compile(r".*#last-result$"))
    assert page.evaluate("document.activeElement.id") == "last-result" and in_viewport(page, "#last-result")
    panel = page.locator("#last-result .panel.sev-severe")
    assert "additive negative chronotropic" in panel.locator(".mechanism").inner_text()
    assert "bradycardia" in panel.locator(".effect").inner_text()
    assert panel.locator(".management").inner_text().startswith("Avoid the combination")
    assert "ANSM" in panel.locator(".source").inner_text()
    assert panel.locator(".confidence").inner_text() == "medium"
    cell = page.locator(f'#pairs td[data-severity="severe"]')
    assert cell.count() == 1 and cell.inner_text().startswith("S")
    assert {cell.get_attribute("data-a"), cell.get_attribute("data-b")} == set(SEVERE)

    # The same pair the other way round: warned about as soon as it is chosen, before any post.
    page.select_option("#id_drug_id_1", SEVERE[1])
    page.select_option("#id_drug_id_2", SEVERE[0])
    warning = page.locator("#repeat-warning")
    assert warning.is_visible() and "already asked at step 1" in warning.inner_text()
    # Sent anyway without ticking "ask again": refused, the refusal in view, nothing spent.
    page.click("#query-button")
    page.wait_for_selector("#id_drug_id_2[aria-invalid=true]")
    assert in_viewport(page, "#id_drug_id_2_error") and "already asked at step 1" in page.inner_text("#id_drug_id_2_error")
    assert page.evaluate("document.activeElement.id") == "id_drug_id_2"
    assert page.inner_text("#budget-queries").startswith("3 of 4")
    query(page, SEVERE[1], SEVERE[0], again=True)
    assert page.inner_text("#budget-queries").startswith("2 of 4")
    assert "already asked at step 1" in page.inner_text("#last-result")

    # Finishing asks first: dismissed, nothing happens; confirmed, the review is graded.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#finish-form button[type=submit]")
    page.wait_for_timeout(300)
    assert page.inner_text("#session-status") == "in progress" and page.locator("#final-score").count() == 0
    finish(page)
    outcome = page.inner_text("#outcome")
    assert "0.5 × relative risk reduction" in outcome and "full-information planner" in outcome.lower()
    assert "sotalol + verapamil is still in the regimen" in page.inner_text("#open-pairs")
    screenshot(page.locator("#outcome"), "review-outcome.png")
    assert page.csp_violations == []


def test_the_review_page_shows_critical_drugs_and_fits_a_phone(browser, server):
    page = log_in(browser, server, "phil")
    url = start_review(page, COMPLEX, "complex_tradeoff")
    assert page.locator("#medications .flag.critical").count() >= 1
    assert "Direct factor Xa inhibitors" in page.inner_text("#medications")  # ATC class names beside codes
    assert "eGFR < 30" in page.inner_text("#kidney")
    query(page, "DRUG_APIXABAN", "DRUG_MELOXICAM")
    page.select_option("#id_target_drug_id", "DRUG_MELOXICAM")
    page.select_option("#id_intervention_type", "stop")
    page.click("#propose-button")
    page.wait_for_url(re.compile(r".*#last-result$"))
    screenshot(page, "review-page.png")
    assert axe_violations(page) == []

    phone = log_in(browser, server, "phil", viewport=PHONE)
    phone.goto(url)
    assert page_width(phone) <= PHONE["width"], too_wide(phone)
    screenshot(phone, "review-page-390px.png")
    assert page.csp_violations == [] and phone.csp_violations == []


def test_a_returned_review_is_revised_resubmitted_and_approved_and_the_chain_verifies(browser, server):
    pharmacist = log_in(browser, server, "pia")
    first = start_review(pharmacist, RETURNED, "easy_screening")
    query(pharmacist, "DRUG_APIXABAN", "DRUG_MELOXICAM")
    finish(pharmacist)

    # The supervisor comments on the step and returns the review; the pharmacist's page shows it live.
    supervisor = log_in(browser, server, "sue")
    supervisor.goto(first)
    supervisor.click("#step-1 details summary")
    supervisor.fill("#comment-1", "Also ask about tramadol with apixaban.")
    supervisor.click("#step-1 form button[type=submit]")
    assert "Also ask about tramadol" in supervisor.inner_text("#step-1")
    supervisor.check('#sign-off-form input[value="return"]')
    supervisor.fill("#id_comment", "Nothing was changed: the NSAID stays with the anticoagulant.")
    supervisor.click("#sign-off-form button[type=submit]")
    assert "returned" in supervisor.inner_text("#sign-off-result").lower()
    pharmacist.wait_for_selector("#revise-form", timeout=10_000)

    # Revised: a new review of the same patient, the returned one's steps and comments beside it.
    pharmacist.click("#revise-form button[type=submit]")
    pharmacist.wait_for_url(re.compile(r".*/reviews/\d+/$"))
    revision = pharmacist.url
    assert revision != first and "revision 2" in pharmacist.inner_text("h1")
    previous = pharmacist.inner_text("#previous")
    assert "Also ask about tramadol" in previous and "the NSAID stays" in previous
    pharmacist.select_option("#id_target_drug_id", "DRUG_MELOXICAM")
    pharmacist.select_option("#id_intervention_type", "stop")
    pharmacist.fill("#id_rationale", "NSAID with apixaban: bleeding.")
    pharmacist.click("#propose-button")
    pharmacist.wait_for_url(re.compile(r".*#last-result$"))
    finish(pharmacist)  # re-submitted

    supervisor.goto(revision)
    supervisor.check('#sign-off-form input[value="approve"]')
    supervisor.click("#sign-off-form button[type=submit]")
    assert "approved" in supervisor.inner_text("#sign-off-result").lower()

    # The whole story is in the trail, and the chain check on the page verifies it.
    supervisor.goto("/audit/?actor=PI")  # any case, by prefix
    actors = set(supervisor.locator("#audit tbody tr td:nth-child(3)").all_inner_texts())
    assert actors == {"pia"}
    supervisor.goto("/audit/")
    actions = supervisor.locator("#audit tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    for action in ("session.revised", "step.commented", "session.returned", "session.approved"):
        assert action in actions, action
    assert "{" not in supervisor.inner_text("#audit tbody")  # payloads as labelled values, not JSON
    supervisor.click("#verify-form button[type=submit]")
    assert "The chain verifies" in supervisor.inner_text("#notices")
    screenshot(supervisor, "audit-page.png")
    assert re.match(r"\d+ records verified", server.manage("verify_audit"))
    assert pharmacist.csp_violations == [] and supervisor.csp_violations == []


# Every page a role opens, at 390 px: (who, path); axe runs on the ones marked.
PAGES = [
    (None, "/accounts/login/", False), (None, "/no/such/page/", False),
    ("phil", "/patients/?catalog=curated", True), ("phil", "/reviews/", True), ("phil", "/accounts/password/", False),
    ("sue", "/reviews/?task=easy_screening", True), ("sue", "/audit/", True), ("sue", "/research/", False),
    ("sue", "{review}", True), ("sue", "{review}audit", True), ("rex", "{review}", False),
    ("rex", "/research/?catalog=classic", False), ("rex", "{research}", False), ("rex", "/jobs/", False),
    ("rex", "/jobs/{job}/", False), ("rex", "/jobs/compare/", False), ("rex", "/jobs/curves/?ids={job}", False),
    ("rex", "/jobs/new/train_policy/", False), ("rex", "/jobs/new/evaluate/", False),
]


def test_every_page_fits_390_px_and_the_review_pages_pass_axe(browser, server):
    pages = {}
    for who in ("phil", "sue", "rex"):
        pages[who] = log_in(browser, server, who, landing=r".*/(reviews|research)/$", viewport=PHONE)
    pages[None] = new_page(browser, server, PHONE)
    review = start_review(pages["phil"], "CUR_B_0001", "budgeted_screening")
    review_path = review.removeprefix(server.url)
    pages["rex"].goto("/research/?catalog=classic")
    research = pages["rex"].locator("#research tbody tr[data-code] a").first.get_attribute("href")
    wide, inaccessible = [], []
    for who, template, with_axe in PAGES:
        path = template.format(review=review_path, research=research, job=server.job_id)
        page = pages[who]
        page.goto(path)
        if page_width(page) > PHONE["width"]:
            wide.append(f"{path} ({who}): {page_width(page)} px: {too_wide(page)}")
        if with_axe:
            inaccessible += [f"{path}: {v}" for v in axe_violations(page)]
    assert wide == [] and inaccessible == []
    for page in pages.values():
        assert page.csp_violations == []
