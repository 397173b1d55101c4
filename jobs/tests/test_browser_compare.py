"""The comparison page and the curves overlay in a real browser (Debian's Chromium via
Playwright) against a real server: intervals beside every mean, a row on other seeds set apart,
and two chosen training runs overlaid. No worker and no training: the finished jobs are written
into the server's database (``jobs.tests.stored``), so this costs seconds.

Screenshots: ``ci-artifacts/screenshots/compare.png`` and ``curves-overlay.png``."""

from __future__ import annotations

import re

import pytest

from testsupport.live_server import LiveServer
from reviews.tests.test_browser import PASSWORD, SCREENSHOTS, browser, log_in  # noqa: F401 (fixture)

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]

INTERVAL = re.compile(r"^\d\.\d{3} \[-?\d\.\d{3}, \d\.\d{3}\]$")


def test_the_comparison_shows_intervals_and_overlays_two_chosen_runs(browser):  # noqa: F811
    with LiveServer(extra_env={"REDIS_URL": ""}) as server:
        server.manage("create_user", "rex", "--role", "researcher", "--password", PASSWORD)
        out = server.manage("shell", "-c", "from jobs.tests.stored import seed_comparison; "
                                           "print(*seed_comparison(), sep=',')")
        runs = out.strip().splitlines()[-1].split(",")
        page = log_in(browser, server, "rex")
        page.goto("/jobs/compare/")
        cells = page.locator("tbody.reference td.mean-ci.ci-score").all_inner_texts()
        assert len(cells) == 4 and all(INTERVAL.match(c) for c in cells), cells
        assert page.locator("tbody.reference tr[data-agent] td.rank").all_inner_texts() == ["1", "2", "3", "4"]
        # The oracle's five episodes on other seeds: flagged with the reason, ranked apart.
        other = page.locator("tbody.off-reference")
        assert other.locator("tr[data-agent]").count() == 1 and "oracle" in other.inner_text()
        assert "not on this task's reference set" in other.inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "compare.png"), full_page=True)
        for job_id in runs:
            page.locator(f'tr[data-agent^="policy:"] input[name="ids"][value="{job_id}"]').check()
        page.click(".curves-submit button[type=submit]")
        page.wait_for_url(re.compile(r"/jobs/curves/\?ids="))
        charts = page.locator("figure svg.plot")
        assert charts.count() == 2  # validation on easy_screening, training score
        for k in range(2):
            assert charts.nth(k).locator("polyline").count() == 2
        legend = page.locator("ul.run-legend li")
        assert legend.count() == 2
        assert "policy:ppo-s0" in legend.nth(0).inner_text() and "policy:ppo-s1" in legend.nth(1).inner_text()
        page.screenshot(path=str(SCREENSHOTS / "curves-overlay.png"), full_page=True)
        assert page.csp_violations == []
