"""REST API for jobs: list, create, detail, cancel; and the checkpoints.

    POST /api/jobs {"kind": "train_policy", "params": {...}} → 201 job
    GET  /api/jobs[?kind=&status=]  GET /api/jobs/<id>  POST /api/jobs/<id>/cancel
    GET  /api/jobs/<id>/tables  GET /api/jobs/<id>/tables/<key>[.csv]   (the job page's tables, every row)
    GET  /api/checkpoints[?kind=policy|bandit]  GET /api/checkpoints/<name>/file

Token or session auth; who may do what is ``accounts.permissions``' ("jobs.view", "jobs.queue.<kind>",
"jobs.cancel"). Bad parameters are a 422 whose
``loc`` names the parameter (``["body", "params", "total_steps"]``)."""

from __future__ import annotations

import json
from typing import Any

from django.http import FileResponse, HttpResponse

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, renderers, serializers
from rest_framework.decorators import api_view, permission_classes, renderer_classes
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from pydantic import BaseModel, ConfigDict, Field

from episodes.wire import body_model
from jobs import downloads, selectors, services
from jobs.kinds import KINDS
from jobs.models import Checkpoint, Job
from accounts import permissions as matrix

LIST_LIMIT = 200


class JobRequest(BaseModel):
    """``POST /api/jobs``: a kind and its parameters (checked by the kind's own serializer)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    kind: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] | None = None


class JobsPermission(permissions.BasePermission):
    message = matrix.refusal("jobs.view")

    def has_permission(self, request: Any, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # DRF answers 401 (TokenAuthentication comes first)
        return matrix.allowed(request.user, "jobs.view")


class JobOut(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", default=None)

    class Meta:
        model = Job
        fields = ["id", "kind", "status", "progress", "stage", "owner", "params", "attempts", "max_attempts",
                  "cancel_requested", "created_at", "started_at", "finished_at", "heartbeat_at", "error"]


class JobDetailOut(JobOut):
    class Meta(JobOut.Meta):
        fields = JobOut.Meta.fields + ["result", "series", "log"]


class CheckpointOut(serializers.ModelSerializer):
    class Meta:
        model = Checkpoint
        fields = ["id", "name", "kind", "job", "task_id", "catalog", "metrics", "created_at"]


def _job_or_404(job_id: int) -> Job:
    job = Job.objects.select_related("owner").filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"No job {job_id}.")
    return job


@extend_schema(methods=["GET"], operation_id="jobs_list", tags=["jobs"], summary="List jobs, newest first.",
               description=f"At most {LIST_LIMIT} jobs (without their result, series and log), optionally of one kind "
               "and status. Researchers and supervisors see every job.", request=None,
               parameters=[OpenApiParameter("kind", str, enum=list(KINDS), required=False),
                           OpenApiParameter("status", str, enum=list(Job.Status.values), required=False)],
               responses={200: JobOut(many=True)})
@extend_schema(methods=["POST"], operation_id="jobs_create", tags=["jobs"], summary="Queue a job.",
               description=f"A kind ({', '.join(KINDS)}) and its parameters, checked by the kind's own form: a 422 "
               "names each refused parameter (loc [\"body\", \"params\", <name>]). Who may queue which kind: "
               "README, Accounts and permissions.",
               request={"application/json": JobRequest.model_json_schema()}, responses={201: JobDetailOut})
@api_view(["GET", "POST"])
@permission_classes([JobsPermission])
def jobs(request: Request) -> Response:
    if request.method == "GET":
        qs = selectors.job_list(kind=request.query_params.get("kind"), status=request.query_params.get("status"))
        return Response(JobOut(qs[:LIST_LIMIT], many=True).data)
    body = body_model(request, JobRequest)
    if body.kind in KINDS:  # an unknown kind is the service's 422, naming the known ones
        matrix.require(request.user, f"jobs.queue.{body.kind}")
    job = services.job_create(kind=body.kind, params=body.params, owner=request.user)
    return Response(JobDetailOut(job).data, status=201)


@extend_schema(operation_id="job", tags=["jobs"], summary="One job, with its result, series and log.",
               description="Progress (0–100), stage and status while it runs; the result, the series the job page plots "
               "and the log once it has them. 404 for an unknown id.", responses={200: JobDetailOut})
@api_view(["GET"])
@permission_classes([JobsPermission])
def job(request: Request, job_id: int) -> Response:
    return Response(JobDetailOut(_job_or_404(job_id)).data)


@extend_schema(operation_id="job_cancel", tags=["jobs"], summary="Cancel a job.",
               description="A queued job is cancelled at once; a running one stops at its next progress report. "
               "A finished job is a 409. Researchers cancel their own jobs, supervisors anyone's.", request=None, responses={200: JobOut})
@api_view(["POST"])
@permission_classes([JobsPermission])
def job_cancel(request: Request, job_id: int) -> Response:
    found = _job_or_404(job_id)
    matrix.require(request.user, "jobs.cancel", owner_id=found.owner_id, on_object=True)
    return Response(JobOut(services.job_cancel(job=found)).data)


@extend_schema(operation_id="checkpoints", tags=["jobs"], summary="List the saved checkpoints.",
               description=f"Trained policies and bandit models (at most {LIST_LIMIT}), with the job, task, catalog and "
               "metrics each came from; ?kind=policy or bandit.",
               parameters=[OpenApiParameter("kind", str, enum=list(Checkpoint.Kind.values), required=False)],
               responses={200: CheckpointOut(many=True)})
@api_view(["GET"])
@permission_classes([JobsPermission])
def checkpoints(request: Request) -> Response:
    qs = Checkpoint.objects.all()
    if request.query_params.get("kind"):
        qs = qs.filter(kind=request.query_params["kind"])
    return Response(CheckpointOut(qs[:LIST_LIMIT], many=True).data)


@extend_schema(operation_id="job_tables", tags=["jobs"], summary="A job's result tables.", description="The result tables of a job (as on its page): key, title, "
               "columns and row count. Download one with /api/jobs/<id>/tables/<key> (JSON) or <key>.csv.",
               responses={200: OpenApiTypes.OBJECT})
@api_view(["GET"])
@permission_classes([JobsPermission])
def job_tables(request: Request, job_id: int) -> Response:
    return Response({"job": job_id, "tables": downloads.table_index(_job_or_404(job_id))})


class _PassThroughRenderer(renderers.BaseRenderer):
    """Lets a client that asks for the download's own type (``Accept: text/csv``) have it
    instead of a 406; an error body (a dict) is still written as JSON."""

    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if isinstance(data, (bytes, str)):
            return data.encode() if isinstance(data, str) else data
        return json.dumps(data).encode()


class CSVRenderer(_PassThroughRenderer):
    media_type, format = "text/csv", "csv"


class BinaryRenderer(_PassThroughRenderer):
    media_type, format = "application/octet-stream", "bin"


def _table(job_id: int, key: str) -> Any:
    try:
        return downloads.table(_job_or_404(job_id), key)
    except LookupError as exc:
        raise NotFound(str(exc)) from None


@extend_schema(operation_id="job_table", tags=["jobs"], summary="One result table of a job, as JSON.",
               description="One result table of a job with every row (the same cells as the job page).",
               responses={200: OpenApiTypes.OBJECT})
@api_view(["GET"])
@permission_classes([JobsPermission])
def job_table(request: Request, job_id: int, key: str) -> Response:
    return Response(downloads.table_json(_table(job_id, key)))


@extend_schema(operation_id="job_table_csv", tags=["jobs"], summary="One result table of a job, as CSV.",
               description="The table of /api/jobs/<id>/tables/<key> as CSV, for spreadsheets (cells a "
               "spreadsheet would run as a formula get a leading apostrophe).",
               responses={(200, "text/csv"): OpenApiTypes.STR})
@api_view(["GET"])
@renderer_classes([renderers.JSONRenderer, CSVRenderer])
@permission_classes([JobsPermission])
def job_table_csv(request: Request, job_id: int, key: str) -> HttpResponse:
    table = _table(job_id, key)
    response = HttpResponse(downloads.table_csv(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="job-{job_id}-{table.key}.csv"'
    return response


@extend_schema(operation_id="checkpoint_file", tags=["jobs"], summary="Download a checkpoint's file.", description="The file of a checkpoint (a policy's or a bandit "
               "model's), as the worker saved it.", responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
@api_view(["GET"])
@renderer_classes([renderers.JSONRenderer, BinaryRenderer])
@permission_classes([JobsPermission])
def checkpoint_file(request: Request, name: str) -> FileResponse:
    try:
        ck, path = downloads.checkpoint_download(name)
    except LookupError as exc:
        raise NotFound(str(exc)) from None
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"{ck.kind}-{ck.name}{path.suffix}")
