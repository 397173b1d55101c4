"""The site as `bin/run` serves it (the same uvicorn entry point, the same environment): DEBUG
off, so an unknown address, another pharmacist's review and a refused page are the site's own
error pages; static files come from WhiteNoise without collectstatic; `DEBUG=1` (`bin/run
--dev`) turns Django's technical pages back on."""

from __future__ import annotations

import pytest

from testsupport.live_server import LiveServer
from reviews.tests.web import WebUser

pytestmark = pytest.mark.live
PASSWORD = "a-long-password-1"


def test_bin_runs_server_shows_its_own_error_pages_and_serves_static_files():
    with LiveServer() as server:
        for name, role in (("phil", "pharmacist"), ("pia", "pharmacist"), ("rex", "researcher")):
            server.manage("create_user", name, "--role", role, "--password", PASSWORD)
        anonymous = WebUser(server).get("/no/such/page/")
        assert anonymous.status == 404 and 'id="error-page" data-status="404"' in anonymous.text
        assert "URLconf" not in anonymous.text and len(anonymous.text) < 5000

        phil = WebUser(server).log_in("phil", PASSWORD)
        started = phil.post("/reviews/start", {"patient_id": "EP_0002", "task_id": "easy_screening",
                                               "catalog": "classic"})
        assert started.status == 302, started.text[:500]
        review = started.location
        other = WebUser(server).log_in("pia", PASSWORD).get(review)
        assert other.status == 404 and 'data-status="404"' in other.text and "URLconf" not in other.text
        refused = WebUser(server).log_in("rex", PASSWORD).get(review)
        assert refused.status == 403 and 'data-status="403"' in refused.text

        css = WebUser(server).get("/static/site.css")
        assert css.status == 200 and css.headers["Content-Type"].startswith("text/css") and ".skip" in css.text
        assert "max-age" in css.headers.get("Cache-Control", "")
        assert WebUser(server).get("/static/admin/css/base.css").status == 200  # an app's, by its finder
        assert "Traceback" not in server.log(), server.log()[-4000:]


def test_debug_1_is_the_developers_switch():
    with LiveServer(extra_env={"DEBUG": "1"}) as server:
        page = WebUser(server).get("/no/such/page/")
        assert page.status == 404 and "URLconf" in page.text
