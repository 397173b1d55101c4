"""Settings: typed environment helpers that fail loudly, and a production mode that refuses dev defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from polypharmacy_site.settings import DEV_AUDIT_KEY, DEV_SECRET_KEY, check_production, envbool, envint, envlist

ROOT = Path(__file__).resolve().parents[2]


def test_envbool_reads_the_usual_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, expected in [("1", True), ("True", True), ("yes", True), ("0", False), ("off", False), ("", False)]:
        monkeypatch.setenv("FLAG", raw)
        assert envbool("FLAG", default=not expected) is expected
    monkeypatch.delenv("FLAG")
    assert envbool("FLAG", default=True) is True


def test_envbool_rejects_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAG", "maybe")

    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe'"):
        envbool("FLAG", default=False)


def test_envint_rejects_a_non_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKERS", "four")

    with pytest.raises(ImproperlyConfigured, match="WORKERS='four': expected an integer"):
        envint("WORKERS", 1)


def test_envlist_splits_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTS", " a.example, b.example ,,")

    assert envlist("HOSTS", []) == ["a.example", "b.example"]


def test_production_refuses_the_development_secret_key() -> None:
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        check_production(secret_key=DEV_SECRET_KEY, allowed_hosts=["example.org"], audit_key="a" * 40)


def test_production_refuses_empty_allowed_hosts() -> None:
    with pytest.raises(ImproperlyConfigured, match="ALLOWED_HOSTS"):
        check_production(secret_key="s" * 50, allowed_hosts=[], audit_key="a" * 40)


@pytest.mark.parametrize("audit_key", ["", DEV_AUDIT_KEY, "short-key", "s" * 50])
def test_production_refuses_a_missing_weak_or_reused_audit_key(audit_key: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="AUDIT_KEY"):
        check_production(secret_key="s" * 50, allowed_hosts=["example.org"], audit_key=audit_key)


def run_django_check(**env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "AUDIT_KEY")}
    environ = {**inherited, "DJANGO_SETTINGS_MODULE": "polypharmacy_site.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_site_does_not_start_in_production_with_the_development_key() -> None:
    result = run_django_check(POLYPHARMACY_PRODUCTION="1", ALLOWED_HOSTS="example.org")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_the_site_starts_in_production_with_a_real_key_and_hosts() -> None:
    result = run_django_check(
        POLYPHARMACY_PRODUCTION="1", SECRET_KEY="k" * 50, ALLOWED_HOSTS="example.org", AUDIT_KEY="a" * 50,
    )

    assert result.returncode == 0, result.stderr


def test_the_site_does_not_start_in_production_without_an_audit_key() -> None:
    result = run_django_check(POLYPHARMACY_PRODUCTION="1", SECRET_KEY="k" * 50, ALLOWED_HOSTS="example.org")

    assert result.returncode != 0
    assert "AUDIT_KEY" in result.stderr
