"""The site's own error pages (templates/4xx.html, 500.html): what a user meets at an unknown
address, another pharmacist's review or a page their role may not open. Never Django's debug
pages (DEBUG is off unless asked for), and nothing that lists the URL patterns or settings."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.test import Client

from catalog.services import catalog_load
from testsupport.world import client_for, make_user

pytestmark = pytest.mark.django_db

DEBUG_PAGE_MARKS = ("URLconf", "technical", "DEBUG = True", "Using the URLconf")


def _site_page(html: str, status: int) -> None:
    assert f'id="error-page" data-status="{status}"' in html
    assert '<a class="brand" href="/">PolypharmacyEnv</a>' in html and "site.css" in html
    for mark in DEBUG_PAGE_MARKS:
        assert mark not in html


def test_debug_is_off_unless_asked_for():
    assert settings.DEBUG is False


def test_an_unknown_address_is_the_sites_404_for_anyone(phil):
    for client in (Client(), client_for(phil)):
        response = client.get("/no/such/page/")
        assert response.status_code == 404
        _site_page(response.content.decode(), 404)
        assert "<code>/no/such/page/</code>" in response.content.decode()
    assert "Log in" in Client().get("/no/such/page/").content.decode()


def test_another_pharmacists_review_is_the_sites_404(session, pia):
    response = client_for(pia).get(f"/reviews/{session.pk}/")
    assert response.status_code == 404
    _site_page(response.content.decode(), 404)


def test_a_page_the_role_may_not_open_is_the_sites_403_with_the_reason(session, rex):
    response = client_for(rex).get(f"/reviews/{session.pk}/")
    assert response.status_code == 403
    html = response.content.decode()
    _site_page(html, 403)
    assert "You are logged in as rex" in html


def test_the_500_page_renders_with_no_context_at_all():
    # Django renders it with an empty context: whatever broke must not break it too.
    html = render_to_string("500.html")
    assert 'data-status="500"' in html and "site.css" in html


@pytest.mark.parametrize("role, shown", [
    ("pharmacist", ["Patients", "Reviews"]),
    ("supervisor", ["Patients", "Reviews", "Audit", "Research", "Jobs"]),
    ("researcher", ["Research", "Jobs"]),
    ("curator", ["Admin"]),
])
def test_the_menu_shows_only_the_pages_the_role_may_open(classic, role, shown):
    catalog_load(name="curated")  # the patient list opens on it

    user = make_user(f"u-{role}", role)
    if role == "curator":
        user.is_staff = True
        user.save()
    client = client_for(user)
    html = client.get("/no/such/page/").content.decode()  # every page has the menu; this one any role sees
    nav = re.search(r'<nav aria-label="Site">(.*?)</nav>', html, re.S)[1]
    labels = re.findall(r">([A-Za-z]+)</a>", nav)
    assert labels == shown
    for href in re.findall(r'href="([^"]+)"', nav):  # and each one opens
        assert client.get(href).status_code in (200, 302), href
