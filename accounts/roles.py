"""Roles are Django groups (created by migration 0002). What each role may do is decided in one
place, ``accounts.permissions``."""

from __future__ import annotations

from typing import Any

PHARMACIST, SUPERVISOR, RESEARCHER, CURATOR = "pharmacist", "supervisor", "researcher", "curator"
ROLES = (PHARMACIST, SUPERVISOR, RESEARCHER, CURATOR)


def user_roles(user: Any) -> frozenset[str]:
    """The user's roles, read once per request (cached on the user object)."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_review_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._review_roles = cached
    return cached


def has_role(user: Any, role: str) -> bool:
    return role in user_roles(user)
