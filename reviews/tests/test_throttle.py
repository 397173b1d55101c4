"""Login throttling, from the outside: wrong passwords at /accounts/login/ and the admin's login
lock the username and the address (django-axes), the right password then fails too with a 429
page saying for how long, every lock is audited once, and a flood of logins waits for the
password gate instead of a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, User
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.test import Client

from polypharmacy_site.settings import envpositive, lockout_parameters
from reviews.audit import audit_verify
from reviews.models import AuditRecord
from reviews.throttle import password_gate

pytestmark = pytest.mark.django_db

PASSWORD = "throttle-password-1"
LIMIT = 10  # the default LOGIN_FAILURE_LIMIT


@pytest.fixture(autouse=True)
def fast_hashing(settings) -> None:
    """Each wrong password is still hashed (as in production), only with a cheap hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def phil(db: None) -> User:
    user = User.objects.create_user("phil", password=PASSWORD)
    user.groups.add(Group.objects.get(name="pharmacist"))
    return user


def log_in(client: Client, username: str, password: str, *, ip: str = "127.0.0.1", path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(times: int, username: str = "phil", *, ip: str = "127.0.0.1", path: str = "/accounts/login/") -> list[int]:
    return [log_in(Client(), username, f"wrong-{i}", ip=ip, path=path).status_code for i in range(times)]


def test_the_settings_have_the_defaults_the_readme_gives(settings) -> None:
    assert settings.AXES_FAILURE_LIMIT == LIMIT and settings.AXES_COOLOFF_TIME == timedelta(minutes=15)
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


def test_wrong_passwords_lock_the_account_and_then_the_right_one_fails_too(phil) -> None:
    assert fail(LIMIT - 1) == [200] * (LIMIT - 1)  # the form, with its error

    locking = log_in(Client(), "phil", "wrong-again")
    right = log_in(Client(), "phil", PASSWORD)

    assert locking.status_code == 429
    assert right.status_code == 429 and "_auth_user_id" not in right.client.session
    html = right.content.decode()
    assert "Login locked" in html and "locked for 15 more minutes, even with the right password" in html
    assert 800 < int(right["Retry-After"]) <= 900


def test_fifty_wrong_passwords_are_not_followed_by_a_login(phil) -> None:
    codes = fail(50)

    assert codes[:LIMIT - 1] == [200] * (LIMIT - 1) and set(codes[LIMIT - 1:]) == {429}
    assert log_in(Client(), "phil", PASSWORD).status_code == 429
    # Attempts during the lock are refused without being counted (nor extending it).
    assert sum(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == LIMIT


def test_the_lock_ends_after_the_lockout_time(phil) -> None:
    fail(LIMIT)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=15, seconds=1))

    response = log_in(Client(), "phil", PASSWORD)

    assert response.status_code == 302 and response["Location"] == "/"


def test_a_username_is_locked_whatever_address_guesses_at_it(phil) -> None:
    for i in range(LIMIT):
        log_in(Client(), "phil", "wrong", ip=f"10.0.0.{i + 1}")

    assert log_in(Client(), "phil", PASSWORD, ip="10.9.9.9").status_code == 429


def test_an_address_spraying_usernames_is_locked_for_everyone_on_it(phil) -> None:
    for i in range(LIMIT):
        log_in(Client(), f"nobody{i}", "wrong", ip="10.0.0.7")

    assert log_in(Client(), "phil", PASSWORD, ip="10.0.0.7").status_code == 429
    assert log_in(Client(), "phil", PASSWORD, ip="10.0.0.8").status_code == 302


def test_the_admin_login_is_locked_too(db: None) -> None:
    User.objects.create_superuser("root", password=PASSWORD)

    codes = fail(LIMIT, "root", path="/admin/login/")
    right = log_in(Client(), "root", PASSWORD, path="/admin/login/")

    assert codes[-1] == 429 and right.status_code == 429 and "Login locked" in right.content.decode()


def test_each_lock_is_audited_once_with_who_and_from_where(phil) -> None:
    fail(LIMIT + 5)
    log_in(Client(), "phil", PASSWORD)

    record = AuditRecord.objects.get(action=AuditRecord.Action.ACCOUNT_LOCKED)
    assert record.actor is None and record.actor_label == "anonymous" and record.ip == "127.0.0.1"
    assert record.payload == {
        "kind": "login", "username": "phil", "known_user": True, "failures": LIMIT, "limit": LIMIT,
        "lockout_minutes": 15, "locked_by": ["username", "ip_address"], "path": "/accounts/login/",
    }
    assert audit_verify().ok


def test_a_lock_on_a_username_nobody_has_is_audited_as_such(db: None) -> None:
    fail(LIMIT, "ghost")

    assert AuditRecord.objects.get(action=AuditRecord.Action.ACCOUNT_LOCKED).payload["known_user"] is False


def test_the_test_clients_login_is_throttled_like_a_real_one(phil) -> None:
    assert Client().login(username="phil", password=PASSWORD) is True
    for _ in range(LIMIT):
        assert Client().login(username="phil", password="wrong") is False

    assert Client().login(username="phil", password=PASSWORD) is False


@pytest.mark.parametrize("username", ["x" * 10_000, "nul\x00name", "", "<script>alert(1)</script>"])
def test_odd_usernames_get_the_form_back_never_a_500(db: None, username: str) -> None:
    response = log_in(Client(), username, "whatever")

    assert response.status_code == 200 and response.context["form"].errors


def test_a_login_that_finds_every_password_slot_taken_is_answered_503_and_not_counted(phil, settings) -> None:
    settings.LOGIN_CONCURRENCY, settings.LOGIN_QUEUE_S = 1, 0.05
    gate = password_gate()
    assert gate.acquire(timeout=1)
    try:
        response = log_in(Client(), "phil", "wrong")
    finally:
        gate.release()

    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "does not count as a failed attempt" in response.content.decode()
    assert not AccessAttempt.objects.exists()
    assert log_in(Client(), "phil", PASSWORD).status_code == 302  # the slot is free again


def test_lockout_settings_are_read_from_the_environment_and_checked() -> None:
    assert lockout_parameters("username,ip_address") == ["username", "ip_address"]
    assert lockout_parameters("username+ip_address") == [["username", "ip_address"]]
    with pytest.raises(ImproperlyConfigured, match="LOGIN_LOCKOUT_BY='user': use a comma-separated list"):
        lockout_parameters("user")


def test_a_limit_of_zero_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGIN_FAILURE_LIMIT", "0")

    with pytest.raises(ImproperlyConfigured, match="LOGIN_FAILURE_LIMIT=0: expected an integer of at least 1"):
        envpositive("LOGIN_FAILURE_LIMIT", 10)


def test_a_token_lock_is_audited_once_too(settings) -> None:
    from episodes.tokens import token_throttle_reset

    token_throttle_reset("10.0.0.66")
    try:
        for i in range(settings.TOKEN_FAILURE_LIMIT + 3):
            Client().get("/state", HTTP_AUTHORIZATION=f"Token {i:040d}", REMOTE_ADDR="10.0.0.66",
                         HTTP_USER_AGENT="guesser/1.0")
    finally:
        token_throttle_reset("10.0.0.66")

    record = AuditRecord.objects.get(action=AuditRecord.Action.ACCOUNT_LOCKED)
    assert (record.actor_label, record.ip, record.user_agent) == ("anonymous", "10.0.0.66", "guesser/1.0")
    assert record.payload == {"kind": "api_token", "username": None, "failures": 20, "limit": 20,
                              "lockout_minutes": 15, "locked_by": ["ip_address"], "path": "/state"}


def test_a_login_that_waited_for_the_gate_while_a_lock_started_is_refused_unhashed(phil, monkeypatch) -> None:
    from axes.exceptions import AxesBackendPermissionDenied
    from django.test import RequestFactory

    from reviews.throttle import GatedModelBackend

    fail(LIMIT)  # the lock starts while this login (below) stood in the queue
    hashed: list[str] = []
    monkeypatch.setattr("django.contrib.auth.backends.ModelBackend.authenticate",
                        lambda *a, **k: hashed.append("hashed"))
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="127.0.0.1")

    with pytest.raises(AxesBackendPermissionDenied):
        GatedModelBackend().authenticate(request, username="phil", password=PASSWORD)
    assert hashed == []
