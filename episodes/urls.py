from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from episodes import api, views_mcp

urlpatterns = [
    path("reset", api.reset, name="env-reset"),
    path("step", api.step, name="env-step"),
    path("state", api.state, name="env-state"),
    path("render", api.render, name="env-render"),
    path("schema", api.schema, name="env-schema"),
    path("metadata", api.metadata, name="env-metadata"),
    path("mcp", views_mcp.mcp_endpoint, name="env-mcp"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    # The split view serves its start-up script as a file of its own (/docs?script=) and the
    # template its style: the page runs under the site's Content-Security-Policy unchanged.
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="openapi", template_name="episodes/swagger_ui.html"),
         name="docs"),
]
