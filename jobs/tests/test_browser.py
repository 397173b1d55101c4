"""The job pages in a real browser (Debian's Chromium via Playwright) against a real server and a
real Celery worker on the embedded broker: a researcher queues a training job from the form,
watches the progress bar move without reloading, and sees the plots when it ends.

Screenshots go to ``ci-artifacts/screenshots/`` (job-running.png, job-finished.png, bandit-finished.png,
bandit-screening.png, jobs-list.png).
Skipped where Chromium or Playwright is missing, except in CI (CI_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import csv
import re

import pytest

from testsupport.live_server import LiveServer, LiveWorker
from reviews.tests.test_browser import PASSWORD, SCREENSHOTS, browser, log_in  # noqa: F401 (fixture)

# Four jobs end to end (train, evaluate, a bandit, a screening) with a browser, a server and a
# worker on two cores: about two minutes on a quiet machine, past five on a loaded one.
pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]


def test_a_researcher_queues_a_training_job_and_watches_it_to_its_plots(browser):  # noqa: F811
    with LiveServer(extra_env={"REDIS_URL": ""}) as server, LiveWorker(server.env):
        server.manage("create_user", "rex", "--role", "researcher", "--password", PASSWORD)
        page = log_in(browser, server, "rex")
        page.goto("/jobs/new/train_policy/")
        page.fill("#id_total_steps", "12")
        page.select_option("#id_catalog", "classic")
        page.click(".job-form button[type=submit]")
        # Refused at the field, nothing queued.
        assert "greater than or equal to 1024" in page.inner_text('ul.errorlist[data-field="total_steps"]')
        page.fill("#id_total_steps", "30000")  # long enough to be seen running, short enough for CI
        page.select_option("#id_task_id", "easy_screening")
        page.fill("#id_hidden", "32")
        page.fill("#id_eval_every", "4")
        page.fill("#id_test_episodes", "20")
        page.click(".job-form button[type=submit]")
        page.wait_for_url(re.compile(r"/jobs/\d+/$"))
        job_url = page.url
        # Progress moves on the page itself (polled), before the job ends.
        page.wait_for_function(
            "() => { const el = document.querySelector('.job-progress');"
            " return el.dataset.status === 'running' && el.querySelector('progress.fill').value > 30"
            " && document.querySelectorAll('#job-panel svg polyline').length >= 2; }",
            timeout=120_000)
        assert page.url == job_url
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "job-running.png"), full_page=True)
        # When it ends the page reloads itself with the final plots and tables.
        page.wait_for_selector('.job-progress[data-status="succeeded"]', timeout=240_000)
        page.wait_for_selector("#job-panel svg polyline")
        assert page.locator("#job-panel svg").count() >= 3
        assert "Test (greedy, seeds 10000…)" in page.inner_text("#job-panel")
        page.screenshot(path=str(SCREENSHOTS / "job-finished.png"), full_page=True)
        # The policy just trained, evaluated from the form's picker: choosing it brings the task
        # it was trained on, whatever the task field said before.
        page.goto("/jobs/new/evaluate/")
        page.select_option("#id_task_id", "budgeted_screening")
        policy = page.locator("#id_agent option[value^='policy:']").first.get_attribute("value")
        page.select_option("#id_agent", policy)
        assert page.input_value("#id_task_id") == "easy_screening" and page.input_value("#id_catalog") == "classic"
        page.fill("#id_episodes", "5")
        page.click(".job-form button[type=submit]")
        page.wait_for_url(re.compile(r"/jobs/\d+/$"))
        page.wait_for_selector('.job-progress[data-status="succeeded"]', timeout=120_000)
        summary = page.inner_text('[data-table="summary"]')
        assert policy in summary and "easy_screening" in summary and "classic" in summary
        # A small OptimNeuralTS run on the classic catalog's drugs: metrics over steps and the
        # flagged combinations with their drugs, predicted RR and bound.
        page.goto("/jobs/new/bandit_train/")
        page.select_option("#id_dataset", "catalog")
        page.select_option("#id_catalog", "classic")
        # bandits/tests/conftest.py's FLAGGING_TRAIN: large enough to flag something, in seconds.
        for name, value in (("n_combinations", "3000"), ("warmup", "500"), ("total_steps", "1200"),
                            ("flag_every", "100"), ("bandit_epochs", "3"), ("hidden", "32")):
            page.fill(f"#id_{name}", value)
        page.click(".job-form button[type=submit]")
        page.wait_for_url(re.compile(r"/jobs/\d+/$"))
        page.wait_for_selector('.job-progress[data-status="succeeded"]', timeout=240_000)
        page.wait_for_selector("#job-panel svg polyline")
        assert "Flagged combinations" in page.inner_text("#job-panel")
        page.screenshot(path=str(SCREENSHOTS / "bandit-finished.png"), full_page=True)
        _screen_three_combinations_with_the_model_just_trained(page)
        page.goto("/jobs/")
        assert page.locator('.job-progress[data-status="succeeded"]').count() == 4
        assert "easy_screening" in page.inner_text("table.jobs")  # the list names each job's task
        page.screenshot(path=str(SCREENSHOTS / "jobs-list.png"), full_page=True)
        assert page.csp_violations == []  # the progress bars, plots and polling under the policy


def _screen_three_combinations_with_the_model_just_trained(page) -> None:
    """Typed into the textarea as a researcher would: a name completed with Tab, Enter for each
    next line (the form is not sent by it), ids and names mixed; three rows come back with μ, σ
    and bound, and the CSV download holds the same numbers."""
    page.goto("/jobs/new/bandit_screen/")
    page.click("#id_combinations")
    page.keyboard.type("aspi")
    page.wait_for_selector("ul.completions li")
    assert page.inner_text("ul.completions li").startswith("aspirin")
    page.keyboard.press("Tab")
    page.keyboard.type(" + Warfarin")
    page.keyboard.press("Enter")
    page.keyboard.type("DRUG_AMLODIPINE")
    page.keyboard.press("Enter")
    page.keyboard.type("tramadol, amitriptyline")
    assert page.input_value("#id_combinations") == "aspirin + Warfarin\nDRUG_AMLODIPINE\ntramadol, amitriptyline"
    assert "/jobs/new/bandit_screen/" in page.url  # Enter made lines, it did not send the form
    page.click(".job-form button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    page.wait_for_selector('.job-progress[data-status="succeeded"]', timeout=60_000)
    table = page.locator('[data-table="combinations"]')
    shown = [[cell.strip() for cell in row.split("\t")] for row in table.locator("tbody tr").all_inner_texts()]
    assert [row[1] for row in shown] == ["aspirin + warfarin", "amlodipine", "amitriptyline + tramadol"]
    assert all(re.fullmatch(r"-?\d+\.\d{3}", cell) for row in shown for cell in row[2:5])  # μ, σ, bound
    assert page.locator('#job-panel svg[aria-label="Predicted RR of the 3 combinations"] circle').count() == 3
    with page.expect_download() as download:
        table.locator("a", has_text="CSV").click()
    with open(download.value.path(), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:5] == ["#", "drugs", "predicted RR (μ)", "σ", "lower bound (μ − 3σ)"]
    assert [row[:5] for row in rows[1:]] == [row[:5] for row in shown]
    page.screenshot(path=str(SCREENSHOTS / "bandit-screening.png"), full_page=True)
