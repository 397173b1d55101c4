"""The job pages: list with live progress, a form per kind, detail with plots and results, the
policy comparison. Thin views over ``jobs.services`` / ``jobs.selectors`` / ``jobs.presenters``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
import json

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from envcore.errors import LimitExceeded, ValidationError
from episodes.errors import error_body
from jobs import downloads, overlay, selectors, services
from jobs.comparison import COLUMNS as COMPARISON_COLUMNS, comparison_groups, comparison_records
from jobs.forms import form_fields, params_from_post
from jobs.kinds import KINDS
from jobs.models import Job
from jobs.presenters import Table, list_row, present
from accounts import permissions

PAGE_SIZE = 50


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    return render(request, template, {"job_kinds": selectors.kinds_queueable_by(request.user), **context},
                  status=status)


def _require_jobs(request: HttpRequest) -> None:
    permissions.require(request.user, "jobs.view")


def _job(job_id: int) -> Job:
    job = Job.objects.select_related("owner").filter(pk=job_id).first()
    if job is None:
        raise Http404(f"No job {job_id}.")
    return job


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    _require_jobs(request)
    kind, status = request.GET.get("kind") or None, request.GET.get("status") or None
    page = Paginator(selectors.job_list(kind=kind, status=status), PAGE_SIZE).get_page(request.GET.get("page"))
    return _render(request, "jobs/list.html", {
        "page": page, "rows": [list_row(job) for job in page], "kinds": KINDS.values(), "statuses": Job.Status.values, "kind": kind, "status": status,
        "has_training": any(job.kind == Job.Kind.TRAIN_POLICY for job in page),
    })


def _field_errors(exc: services.JobError | services.QueueUnavailable | LimitExceeded) -> dict[str, str]:
    """{form field: its first message} for every field at fault ("__all__" for the rest), so the
    form shows all its errors at once."""
    errors: dict[str, str] = {}
    for item in getattr(exc, "errors", None) or [{"loc": (exc.field or "").split("."), "msg": exc.message}]:
        loc = [str(part) for part in item["loc"]]
        field = loc[1] if loc[:1] == ["params"] and len(loc) > 1 else "__all__"
        errors.setdefault(field, item["msg"])
    return errors


@login_required
@require_http_methods(["GET", "POST"])
def job_new(request: HttpRequest, kind: str) -> HttpResponse:
    _require_jobs(request)
    if kind not in KINDS:
        raise Http404(f"No job kind {kind!r}.")
    permissions.require(request.user, f"jobs.queue.{kind}")
    data, errors, status = None, {}, 200
    if request.method == "POST":
        params = params_from_post(kind, request.POST)
        try:
            job = services.job_create(kind=kind, params=params, owner=request.user)
        except (services.JobError, services.QueueUnavailable, LimitExceeded) as exc:
            errors = _field_errors(exc)
            data, status = {k: request.POST.get(k, "") for k in request.POST}, exc.status
        else:
            return redirect("jobs:detail", job_id=job.pk)
    return _render(request, "jobs/new.html", {
        "kind": KINDS[kind], "fields": form_fields(kind, data, errors), "form_error": errors.get("__all__"),
        "field_errors": len([f for f in errors if f != "__all__"]),
    }, status=status)


@login_required
@require_GET
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    _require_jobs(request)
    job = _job(job_id)
    return _render(request, "jobs/detail.html", {
        "job": job, "kind": KINDS.get(job.kind), "shown": present(job), "can_cancel": selectors.may_cancel(request.user, job),
    })


@login_required
@require_GET
def job_panel(request: HttpRequest, job_id: int) -> HttpResponse:
    """The plots and tables alone: the detail page refreshes them while the job runs."""
    _require_jobs(request)
    job = _job(job_id)
    return render(request, "jobs/_panel.html", {"job": job, "shown": present(job)})


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    _require_jobs(request)
    job = _job(job_id)
    permissions.require(request.user, "jobs.cancel", owner_id=job.owner_id, on_object=True)
    try:
        services.job_cancel(job=job)
    except services.JobConflict as exc:
        # The API's 409 and its message, on the job's own page.
        return _render(request, "jobs/detail.html", {
            "job": job, "kind": KINDS.get(job.kind), "shown": present(job), "error": exc.message,
            "can_cancel": selectors.may_cancel(request.user, job),
        }, status=exc.status)
    return redirect("jobs:detail", job_id=job.pk)


@login_required
@require_GET
def job_progress(request: HttpRequest) -> JsonResponse:
    """Status and progress of the jobs ``?ids=1,2,3`` (polled by the pages' progress bars)."""
    _require_jobs(request)
    try:
        ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.strip()][:200]
    except ValueError:
        status, body = error_body(ValidationError("ids must be comma-separated job ids.", "ids", where="query"))
        return JsonResponse(body, status=status)
    jobs = Job.objects.filter(pk__in=ids).only("id", "status", "progress", "stage", "error", "attempts",
                                                "started_at", "finished_at")
    return JsonResponse({"jobs": [{"id": j.pk, "status": j.status, "progress": j.progress, "stage": j.stage,
                                   "error": j.error, "attempts": j.attempts, "duration_s": j.duration_s}
                                  for j in jobs]})


@login_required
@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    _require_jobs(request)
    rows = selectors.policy_comparison()
    return _render(request, "jobs/compare.html", {
        "groups": comparison_groups(rows), "curves_pickable": any(r["training_job_id"] for r in rows),
        "max_runs": overlay.MAX_RUNS})


@login_required
@require_GET
def compare_download(request: HttpRequest, fmt: str) -> HttpResponse:
    """``/jobs/compare/download.csv|json``: the comparison's rows, unrounded, in the page's order."""
    _require_jobs(request)
    records = comparison_records(comparison_groups(selectors.policy_comparison()))
    if fmt == "csv":
        table = Table(title="Policy comparison", columns=COMPARISON_COLUMNS,
                      rows=[[r[c] for c in COMPARISON_COLUMNS] for r in records])
        return _attachment(downloads.table_csv(table), "policy-comparison.csv", "text/csv; charset=utf-8")
    return _attachment(json.dumps({"columns": COMPARISON_COLUMNS, "rows": records}, indent=1),
                       "policy-comparison.json", "application/json")


@login_required
@require_GET
def curves(request: HttpRequest) -> HttpResponse:
    """``/jobs/curves/?ids=3,5,8``: the learning curves of those training jobs on one chart."""
    _require_jobs(request)
    try:
        ids = overlay.parse_job_ids(request.GET.getlist("ids"))
    except ValidationError as exc:
        return _render(request, "jobs/curves.html", {"error": exc.message, "max_runs": overlay.MAX_RUNS},
                       status=exc.status)
    return _render(request, "jobs/curves.html", {"ids": ids, "overlay": overlay.curves_overlay(ids) if ids else None,
                                                 "max_runs": overlay.MAX_RUNS})


def _attachment(body: str, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def job_download(request: HttpRequest, job_id: int, name: str, fmt: str) -> HttpResponse:
    """``/jobs/<id>/download/<table key>.csv|json``, or ``job.json`` for the whole stored job."""
    _require_jobs(request)
    job = _job(job_id)
    if name == "job" and fmt == "json":
        return _attachment(json.dumps(downloads.job_document(job), indent=1), f"job-{job.pk}.json",
                           "application/json")
    try:
        table = downloads.table(job, name)
    except LookupError as exc:
        raise Http404(str(exc)) from None
    if fmt == "csv":
        return _attachment(downloads.table_csv(table), f"job-{job.pk}-{table.key}.csv", "text/csv; charset=utf-8")
    return _attachment(json.dumps(downloads.table_json(table), indent=1), f"job-{job.pk}-{table.key}.json",
                       "application/json")


@login_required
@require_GET
def checkpoint_download(request: HttpRequest, name: str) -> FileResponse:
    """The file of a checkpoint (a policy's or a bandit model's), as the worker saved it."""
    _require_jobs(request)
    try:
        ck, path = downloads.checkpoint_download(name)
    except LookupError as exc:
        raise Http404(str(exc)) from None
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"{ck.kind}-{ck.name}{path.suffix}")
