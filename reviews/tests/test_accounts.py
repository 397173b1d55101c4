"""Accounts: roles as groups, ``manage.py create_user``, login, logout and password change."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from testsupport.world import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_four_roles_exist_once_each():
    for role in ("pharmacist", "supervisor", "researcher", "curator"):
        assert Group.objects.filter(name=role).count() == 1


def test_create_user_makes_a_user_with_a_role():
    out = StringIO()
    call_command("create_user", "alice", "--role", "pharmacist", "--password", "a-long-password-1", stdout=out)
    alice = User.objects.get(username="alice")
    assert alice.check_password("a-long-password-1") and list(alice.groups.values_list("name", flat=True)) == ["pharmacist"]
    assert not alice.is_staff and "created alice (pharmacist)" in out.getvalue()


def test_create_user_prints_a_random_password_and_gives_curators_the_admin():
    out = StringIO()
    call_command("create_user", "carl", "--role", "curator", stdout=out)
    password = out.getvalue().split("password: ")[1].strip()
    carl = User.objects.get(username="carl")
    assert carl.is_staff and carl.check_password(password)


@pytest.mark.parametrize(("args", "words"), [
    (["bob", "--password", "1"], "password: This password is too short"),
    (["bob", "--password", "password123"], "password: This password is too common"),
    (["bobsmith", "--password", "bobsmith1"], "password: The password is too similar to the username"),
    (["<img src=x onerror=alert(1)>", "--password", "a-long-password-1"], "username '<img src=x"),
    (["a" * 151, "--password", "a-long-password-1"], "at most 150 characters"),
])
def test_create_user_refuses_a_weak_password_or_a_username_the_pages_would_show_raw(args, words):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as caught:
        call_command("create_user", *args, "--role", "pharmacist", stdout=StringIO())
    assert words in str(caught.value)
    assert not User.objects.exists()


def test_a_pharmacist_logs_in_changes_the_password_and_logs_out(phil):
    client = Client()
    response = client.post("/accounts/login/", {"username": "phil", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").headers["Location"] == "/reviews/"
    response = client.post("/accounts/password/", {
        "old_password": PASSWORD, "new_password1": "another-long-pass-9", "new_password2": "another-long-pass-9",
    })
    assert response.status_code == 302
    phil.refresh_from_db()
    assert phil.check_password("another-long-pass-9")
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/reviews/").status_code == 302


def test_a_wrong_password_is_refused_at_the_login_form(phil):
    response = Client().post("/accounts/login/", {"username": "phil", "password": "nope"})
    assert response.status_code == 200 and response.context["form"].errors
