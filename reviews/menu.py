"""The site menu: only the pages the signed-in user's role may open (``accounts.permissions``), so
nobody is shown a link that answers 403. A template context processor (settings.TEMPLATES)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from accounts import permissions

# (label, URL name, the action that opens it), in the menu's order.
ENTRIES = (
    ("Patients", "reviews:patients", "patients.view"),
    ("Reviews", "reviews:sessions", "review.view"),
    ("Audit", "reviews:audit", "audit.view"),
    ("Research", "reviews:research", "research.view"),
    ("Jobs", "jobs:list", "jobs.view"),
)


def menu(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"menu": []}
    entries = [{"label": label, "url": reverse(name)} for label, name, action in ENTRIES
               if permissions.allowed(user, action)]
    if user.is_staff:  # curators and superusers: the admin is their page
        entries.append({"label": "Admin", "url": reverse("admin:index")})
    return {"menu": entries}
