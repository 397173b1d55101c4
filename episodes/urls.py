from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from episodes import api, views_mcp

urlpatterns = [
    path("reset", api.reset, name="env-reset"),
    path("step", api.step, name="env-step"),
    path("state", api.state, name="env-state"),
    path("schema", api.schema, name="env-schema"),
    path("metadata", api.metadata, name="env-metadata"),
    path("mcp", views_mcp.mcp_endpoint, name="env-mcp"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
]
