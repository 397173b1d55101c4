"""Production mode's transport security: `check --deploy` is clean, HTTP is redirected to HTTPS
(but /health answers probes), HSTS, the proxy's TLS header when configured, and every cookie the
site sets is Secure."""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group, User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from catalog.services import catalog_load
from episodes import fastpath
from episodes.api import ANON_COOKIE, anon_cookie
from polypharmacy_site.settings import proxy_ssl_header

ROOT = Path(__file__).resolve().parents[2]
YEAR = 365 * 24 * 3600


def production_env(**extra: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "SESSION_COOKIE", "CSRF_COOKIE"))}
    key = "".join(secrets.choice(string.ascii_letters + string.digits + "!@#%^&*(-_=+)") for _ in range(50))
    return {**inherited, "DJANGO_SETTINGS_MODULE": "polypharmacy_site.settings", "POLYPHARMACY_PRODUCTION": "1",
            "SECRET_KEY": key, "ALLOWED_HOSTS": "example.org", "AUDIT_KEY": secrets.token_urlsafe(40), **extra}


@pytest.mark.slow
def test_check_deploy_prints_no_warning_in_production_mode() -> None:
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=production_env(),
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout
    assert "WARNING" not in done.stdout + done.stderr and "W0" not in done.stdout + done.stderr


def production_settings(**extra: str) -> dict:
    names = ["SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
             "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_REDIRECT_EXEMPT", "DEBUG"]
    code = ("import json, django; django.setup(); from django.conf import settings as s; "
            f"print(json.dumps({{n: getattr(s, n, None) for n in {names!r}}} | "
            "{'SECURE_PROXY_SSL_HEADER': s.SECURE_PROXY_SSL_HEADER}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=production_env(**extra), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_production_mode_turns_on_https_hsts_and_secure_cookies() -> None:
    assert production_settings() == {
        "SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": YEAR, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False, "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True,
        "SECURE_REDIRECT_EXEMPT": ["^health$"], "DEBUG": False, "SECURE_PROXY_SSL_HEADER": None,
    }


def test_each_https_setting_comes_from_the_environment() -> None:
    found = production_settings(SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="3600", SECURE_HSTS_PRELOAD="1",
                                SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")

    assert found["SECURE_SSL_REDIRECT"] is False and found["SECURE_HSTS_SECONDS"] == 3600
    assert found["SECURE_HSTS_PRELOAD"] is True
    assert found["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_a_bad_proxy_header_name_stops_the_site_with_a_message() -> None:
    assert proxy_ssl_header("") is None
    with pytest.raises(ImproperlyConfigured, match="SECURE_PROXY_SSL_HEADER='X Forwarded: https'"):
        proxy_ssl_header("X Forwarded: https")


@pytest.fixture
def https_on(settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = YEAR
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True


@pytest.mark.django_db
@pytest.mark.usefixtures("https_on")
def test_plain_http_is_redirected_to_https_and_https_gets_hsts() -> None:
    plain = Client().get("/accounts/login/?next=/jobs/")
    secure = Client().get("/accounts/login/", secure=True)

    assert plain.status_code == 301 and plain["Location"] == "https://testserver/accounts/login/?next=/jobs/"
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == f"max-age={YEAR}; includeSubDomains"


@pytest.mark.django_db
@pytest.mark.usefixtures("https_on")
def test_health_probes_over_plain_http_are_answered_not_redirected() -> None:
    response = Client().get("/health")

    assert response.status_code == 200 and response.json()["status"] == "healthy"
    assert "Strict-Transport-Security" not in response  # HSTS means nothing over plain HTTP


@pytest.mark.django_db
@pytest.mark.usefixtures("https_on")
def test_behind_a_tls_proxy_its_header_counts_as_https_only_when_configured(settings) -> None:
    assert Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 301  # not trusted
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    proxied = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")

    assert proxied.status_code == 200 and "Strict-Transport-Security" in proxied
    assert Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="http").status_code == 301


@pytest.mark.usefixtures("https_on")
def test_the_fast_path_leaves_plain_http_to_django_which_redirects_it(settings) -> None:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/reset", "scheme": "http", "headers": []}
    assert async_to_sync(fastpath.reset)(scope, b"{}", send) is False
    assert async_to_sync(fastpath.step)(scope, b'{"action": {"action_type": "finish_review"}}', send) is False
    assert sent == []
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxied = [(b"x-forwarded-proto", b"https")]
    assert fastpath._secure({**scope, "headers": proxied}, dict(proxied))
    assert not fastpath._secure({**scope, "scheme": "https", "headers": [(b"x-forwarded-proto", b"http")]},
                                {b"x-forwarded-proto": b"http"})


def set_cookie_lines(response) -> list[str]:
    return [morsel.OutputString() for morsel in response.cookies.values()]


@pytest.mark.django_db
@pytest.mark.usefixtures("https_on")
def test_every_cookie_the_site_sets_is_secure() -> None:
    catalog_load(name="classic")
    User.objects.create_superuser("root", password="a-long-password-1")
    client = Client()
    lines = set_cookie_lines(client.get("/accounts/login/", secure=True))  # csrftoken
    lines += set_cookie_lines(client.post("/accounts/login/", {"username": "root", "password": "a-long-password-1"},
                                          secure=True))  # sessionid, a rotated csrftoken
    added = client.post("/admin/auth/group/add/", {"name": "auditors"}, secure=True)  # a message: the messages cookie
    lines += set_cookie_lines(added)
    lines += set_cookie_lines(Client().post("/reset", {"catalog": "classic"}, content_type="application/json",
                                            secure=True))  # the anonymous episode cookie

    names = {line.split("=", 1)[0] for line in lines}
    assert {"csrftoken", "sessionid", "messages", ANON_COOKIE} <= names, lines
    assert all("Secure" in line.split("; ") for line in lines), lines
    assert Group.objects.filter(name="auditors").exists()


def test_the_fast_paths_anonymous_cookie_is_the_same_secure_one(settings) -> None:
    settings.SESSION_COOKIE_SECURE = True
    line = anon_cookie("a" * 32).OutputString()

    assert "Secure" in line.split("; ") and "HttpOnly" in line.split("; ") and "SameSite=Lax" in line
    settings.SESSION_COOKIE_SECURE = False
    assert "Secure" not in anon_cookie("a" * 32).OutputString()  # a plain-HTTP laptop
