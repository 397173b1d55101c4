"""REST API for jobs: list, create, detail, cancel; and the checkpoints.

    POST /api/jobs {"kind": "train_policy", "params": {...}} → 201 job
    GET  /api/jobs[?kind=&status=]  GET /api/jobs/<id>  POST /api/jobs/<id>/cancel
    GET  /api/checkpoints[?kind=policy|bandit]

Token or session auth; researchers, supervisors and staff only. Bad parameters are a 422 whose
``loc`` names the parameter (``["body", "params", "total_steps"]``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from episodes.errors import error_response
from episodes.requests import parse_json_object, reject_nul
from envcore.errors import EnvError
from jobs import selectors, services
from jobs.models import Checkpoint, Job

LIST_LIMIT = 200


class JobsPermission(permissions.BasePermission):
    message = "Jobs are for researchers, supervisors and staff."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # DRF answers 401 (TokenAuthentication comes first)
        return selectors.can_use_jobs(request.user)


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


@extend_schema(operation_id="jobs", request=None, responses={200: JobOut(many=True), 201: JobDetailOut})
@api_view(["GET", "POST"])
@permission_classes([JobsPermission])
def jobs(request: Request) -> Response:
    if request.method == "GET":
        qs = selectors.job_list(kind=request.query_params.get("kind"), status=request.query_params.get("status"))
        return Response(JobOut(qs[:LIST_LIMIT], many=True).data)
    body: Any = None
    try:
        body = parse_json_object(request.body)
        reject_nul(body)  # PostgreSQL's JSON cannot store NUL: refuse it as bad input, by field
        unknown = sorted(set(body) - {"kind", "params"})
        if unknown:
            raise services.JobError(f"Unknown field {unknown[0]!r}; a job is {{kind, params}}.", field=unknown[0])
        job = services.job_create(kind=body.get("kind"), params=body.get("params"), owner=request.user)
    except EnvError as exc:
        return error_response(exc, body)
    return Response(JobDetailOut(job).data, status=201)


@extend_schema(operation_id="job", responses={200: JobDetailOut})
@api_view(["GET"])
@permission_classes([JobsPermission])
def job(request: Request, job_id: int) -> Response:
    return Response(JobDetailOut(_job_or_404(job_id)).data)


@extend_schema(operation_id="job_cancel", request=None, responses={200: JobOut})
@api_view(["POST"])
@permission_classes([JobsPermission])
def job_cancel(request: Request, job_id: int) -> Response:
    found = _job_or_404(job_id)
    if not selectors.can_cancel(request.user, found):
        return Response({"detail": "Only the job's owner, a supervisor or staff can cancel it."}, status=403)
    try:
        found = services.job_cancel(job=found)
    except services.JobError as exc:
        return Response({"detail": exc.message}, status=409)
    return Response(JobOut(found).data)


@extend_schema(operation_id="checkpoints", responses={200: CheckpointOut(many=True)})
@api_view(["GET"])
@permission_classes([JobsPermission])
def checkpoints(request: Request) -> Response:
    qs = Checkpoint.objects.all()
    if request.query_params.get("kind"):
        qs = qs.filter(kind=request.query_params["kind"])
    return Response(CheckpointOut(qs[:LIST_LIMIT], many=True).data)
