"""The admin site, which asks ``accounts.permissions`` who may enter ("admin.use": curators and
superusers), on top of Django's own ``is_active`` and ``is_staff``. A staff account with neither
role is sent to the admin's login page like any outsider. What each one may do inside stays
Django's model permissions (the curator group may edit the catalog, nothing else)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from accounts.permissions import allowed


class SiteAdmin(admin.AdminSite):
    def has_permission(self, request: Any) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and allowed(user, "admin.use"))


class SiteAdminConfig(AdminConfig):
    default_site = "polypharmacy_site.admin_site.SiteAdmin"
