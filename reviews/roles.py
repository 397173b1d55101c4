"""Roles are Django groups (created by migration 0002). Who may do what with a review session."""

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


def can_view_session(user: Any, session: Any) -> bool:
    """A pharmacist sees their own sessions; a supervisor sees everyone's."""
    roles = user_roles(user)
    return SUPERVISOR in roles or (PHARMACIST in roles and session.pharmacist_id == user.pk)


def can_act_on_session(user: Any, session: Any) -> bool:
    return has_role(user, PHARMACIST) and session.pharmacist_id == user.pk


def can_sign_off(user: Any, session: Any) -> bool:
    # Four eyes: nobody signs off their own review, even with both roles.
    return has_role(user, SUPERVISOR) and session.pharmacist_id != user.pk
