"""URL configuration. Apps add their own routes here as they arrive."""

from django.contrib import admin
from django.urls import include, path

from polypharmacy_site.health import health
from reviews.urls import account_urlpatterns

admin.site.site_header = "PolypharmacyEnv curation"
admin.site.site_title = "PolypharmacyEnv"

urlpatterns = [
    path("health", health, name="health"),
    path("admin/", admin.site.urls),
    path("", include("episodes.urls")),
    # The review pages live under /patients/, /reviews/, /audit/, /research/ and /accounts/
    # (plus the bare /), clear of the OpenEnv paths above.
    path("", include("reviews.urls")),
    path("", include("jobs.urls")),
    path("", include("bandits.urls")),
    *account_urlpatterns,
]
# Static files: WhiteNoise's middleware (settings.SERVE_STATIC). Error pages: templates/4xx.html
# and 500.html, Django's default handlers.
