"""URL configuration. Apps add their own routes here as they arrive."""

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path, re_path
from django.views.static import serve

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

# uvicorn serves no static files of its own (settings.SERVE_STATIC says why Django does).
if settings.DEBUG:
    urlpatterns += staticfiles_urlpatterns()
elif settings.SERVE_STATIC:
    urlpatterns += [re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT})]
