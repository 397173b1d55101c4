from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from episodes import api, views_mcp, views_tasks
from episodes.metadata import ENV_NAME

urlpatterns = [
    path("reset", api.reset, name="env-reset"),
    path("step", api.step, name="env-step"),
    path("state", api.state, name="env-state"),
    path("render", api.render, name="env-render"),
    path("schema", api.schema, name="env-schema"),
    path("metadata", api.metadata, name="env-metadata"),
    path("mcp", views_mcp.McpView.as_view(), name="env-mcp"),
    # OpenEnv 0.10's Task API, under the environment's name.
    path("list_environments", views_tasks.list_environments, name="task-environments"),
    path(f"{ENV_NAME}/splits", views_tasks.splits, name="task-splits"),
    path(f"{ENV_NAME}/tasks", views_tasks.task_list, name="task-list"),
    path(f"{ENV_NAME}/num_tasks", views_tasks.task_count, name="task-count"),
    path(f"{ENV_NAME}/task", views_tasks.task, name="task-get"),
    path(f"{ENV_NAME}/task_range", views_tasks.task_range, name="task-range"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    # The split view serves its start-up script as a file of its own (/docs?script=) and the
    # template its style: the page runs under the site's Content-Security-Policy unchanged.
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="openapi", template_name="episodes/swagger_ui.html"),
         name="docs"),
]
