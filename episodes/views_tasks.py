"""OpenEnv 0.10's Task API: the splits a training run draws episodes from (``envcore.tasks``).

``GET /list_environments``, ``GET /polypharmacy_env/splits`` and ``POST /polypharmacy_env/tasks``,
``/num_tasks``, ``/task``, ``/task_range`` with OpenEnv's request and answer shapes. They list the
default catalog's tasks; ``reset(split=..., index=...)`` starts one (on any catalog). Discovery
only: nothing is written, no authentication is asked.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.selectors import DEFAULT_CATALOG
from envcore import tasks
from envcore.contract import TaskListRequest, TaskRangeRequest, TaskRequest
from envcore.errors import ValidationError
from episodes import openapi
from episodes.metadata import ENV_NAME
from episodes.selectors import catalog_with_id
from episodes.wire import body_model

TASK_TAG = "tasks"
MAX_LISTED = 1000  # tasks in one answer: /tasks previews a longer split, /task_range pages through it


def _catalog() -> Any:
    return catalog_with_id(DEFAULT_CATALOG)[0]


def _route(method: str, operation_id: str, summary: str, request: str | None = None) -> Any:
    """A Task API view: its OpenAPI operation, the one HTTP method, no authentication."""
    schema = extend_schema(operation_id=operation_id, tags=[TASK_TAG], summary=summary,
                           request={"application/json": openapi.ref(request)} if request else None,
                           responses={200: OpenApiTypes.OBJECT, 400: openapi.DETAIL, 422: openapi.VALIDATION})

    def decorate(view: Any) -> Any:
        return schema(api_view([method])(authentication_classes([])(permission_classes([permissions.AllowAny])(view))))

    return decorate


@_route("GET", "list_environments", "The environments this server serves: [\"polypharmacy_env\"].")
def list_environments(request: Request) -> Response:
    return Response([ENV_NAME])


@_route("GET", "list_splits", "The splits (train, test, patients) with their sizes.")
def splits(request: Request) -> Response:
    return Response(tasks.split_list(_catalog()))


@_route("POST", "list_tasks", f"A split's tasks (its first {MAX_LISTED}; num_tasks gives the size).", "TaskListRequest")
def task_list(request: Request) -> Response:
    query = body_model(request, TaskListRequest)
    return Response({"tasks": tasks.task_range(_catalog(), query.split, 0, MAX_LISTED), "env_name": ENV_NAME})


@_route("POST", "num_tasks", "How many tasks a split has.", "TaskListRequest")
def task_count(request: Request) -> Response:
    query = body_model(request, TaskListRequest)
    return Response({"num_tasks": tasks.split_size(_catalog(), query.split)})


@_route("POST", "get_task", "One task; reset with its split and index to start it. 400 outside the split.",
            "TaskRequest")
def task(request: Request) -> Response:
    query = body_model(request, TaskRequest)
    try:
        return Response({"task": tasks.task_get(_catalog(), query.split, query.index)})
    except IndexError as exc:  # OpenEnv's answer to an index outside the split
        return Response({"detail": f"Invalid task index: {exc}"}, status=status.HTTP_400_BAD_REQUEST)


@_route("POST", "get_task_range", f"Tasks [start, stop) of a split, at most {MAX_LISTED} at a time.", "TaskRangeRequest")
def task_range(request: Request) -> Response:
    query = body_model(request, TaskRangeRequest)
    catalog = _catalog()
    indices = range(tasks.split_size(catalog, query.split))[slice(query.start, query.stop)]
    if len(indices) > MAX_LISTED:
        raise ValidationError(f"stop: a range holds at most {MAX_LISTED} tasks; ask for the next ones after these.",
                              field="stop", value=query.stop)
    return Response({"tasks": tasks.task_range(catalog, query.split, query.start, query.stop)})
