"""Audit pages (a session's trail; the filterable list for supervisors) and the researchers'
view of finished reviews: the anonymised table, an episode's drill-down and the downloads."""

from __future__ import annotations

import tempfile
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from episodes.errors import error_body
from accounts import permissions
from reviews import audit_actions, audit_format, research_export, selectors, services
from reviews.audit import RequestMeta
from reviews.forms import AuditFilterForm, ResearchFilterForm

PAGE_SIZE = 100


@login_required
@require_GET
def session_audit(request: HttpRequest, pk: int) -> HttpResponse:
    session = selectors.session_for(request.user, pk)
    services.review_record_view(session, meta=RequestMeta.from_request(request), page="audit")
    records = selectors.audit_for_session(session)
    return render(request, "reviews/audit_session.html", {"session": session, "records": records})


def _audit_filters(request: HttpRequest) -> tuple[AuditFilterForm, dict[str, Any] | None]:
    """The query string's filters, or None (and the form's errors) when a value is refused."""
    form = AuditFilterForm(request.GET or None)
    if not form.is_bound:
        return form, {}
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    return form, {"actor": data["actor"], "action": data["action"], "session_id": data["session"],
                  "since": data["since"], "until": data["until"]}


@login_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "audit.view")
    form, filters = _audit_filters(request)
    records = selectors.audit_list(**filters) if filters is not None else selectors.audit_list().none()
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reviews/audit_list.html", {"form": form, "page": page, "query": query.urlencode()},
                  status=200 if filters is not None else 422)


@login_required
@require_GET
def audit_download(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The filtered records, every one (not a page), exactly as stored: payloads unrounded and
    full hashes, so a download can be checked against the chain."""
    permissions.require(request.user, "audit.view")
    form, filters = _audit_filters(request)
    if filters is None:
        items = [{"type": "value_error", "loc": [name], "msg": f"{name}: {' '.join(str(e) for e in errors)}",
                  "input": form.data.get(name)} for name, errors in form.errors.items()]
        return JsonResponse({"detail": items}, status=422)
    records = selectors.audit_list(**filters).order_by("pk")
    audit_actions.audit_export_record(meta=RequestMeta.from_request(request), fmt=fmt,
                                      filters={k: v for k, v in filters.items() if v not in ("", None)},
                                      rows=records.count())
    # Streamed: the trail of a busy site does not fit in a response held in memory.
    rows = records.iterator(chunk_size=2000)
    if fmt == "csv":
        response = StreamingHttpResponse(audit_format.audit_csv(rows), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(audit_format.audit_json(rows, filters), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="polypharmacy-audit.{fmt}"'
    return response


@login_required
@require_POST
def audit_check(request: HttpRequest) -> HttpResponse:
    """Run the chain check now; the verdict is shown on /audit/ (the filters kept)."""
    permissions.require(request.user, "audit.view")
    verdict = audit_actions.audit_check(meta=RequestMeta.from_request(request))
    (messages.success if verdict.ok else messages.error)(request, audit_actions.verdict_text(verdict))
    back = QueryDict(request.POST.get("query", "")).urlencode()  # re-encoded: nothing but a query string
    return HttpResponseRedirect(reverse("reviews:audit") + (f"?{back}" if back else ""))


def _research_filters(request: HttpRequest) -> tuple[ResearchFilterForm, selectors.ResearchFilters | None]:
    """The query string's filters, or None (and the form's errors) when a value is refused."""
    form = ResearchFilterForm(request.GET)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    return form, selectors.ResearchFilters(catalog=data["catalog"], task_id=data["task"], outcome=data["outcome"],
                                           min_score=data["min_score"], max_score=data["max_score"])


@login_required
@require_GET
def research(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "research.view")
    form, filters = _research_filters(request)
    table = selectors.research_rows(filters or selectors.ResearchFilters())
    # Refused filters show no rows (not all of them): the page must not look filtered when it is not.
    return render(request, "reviews/research.html", {
        "rows": table.rows if filters is not None else [], "table": table, "form": form, "query": _query(form),
    }, status=200 if filters is not None else 422)


@login_required
@require_GET
def research_episode(request: HttpRequest, code: str) -> HttpResponse:
    permissions.require(request.user, "research.view")
    session, row = selectors.research_session(code)
    episode = session.episode
    return render(request, "reviews/research_episode.html", {
        "code": code, "row": row,
        "ended": "step limit" if episode.status == episode.Status.TRUNCATED else "review finished",
        "grader_score": episode.grader_score, "steps": selectors.research_steps(session),
        "back": request.GET.urlencode(),
    })


@login_required
@require_GET
def research_download(request: HttpRequest, fmt: str) -> HttpResponseBase:
    permissions.require(request.user, "research.view")
    form, filters = _research_filters(request)
    if filters is None:
        status, body = error_body(form.validation_error())
        return JsonResponse(body, status=status)
    table = selectors.research_rows(filters)
    # A temporary file, not memory: a large export must not hold the web process's memory.
    out = tempfile.TemporaryFile()
    if fmt == "jsonl":
        research_export.research_jsonl_write(table, out)
        name, content_type = "polypharmacy-research.jsonl", "application/x-ndjson"
    else:
        research_export.research_minari_write(table, out, filters=filters.as_dict())
        name, content_type = f"{research_export.DATASET_ID}.zip", "application/zip"
    research_export.research_export_record(meta=RequestMeta.from_request(request), fmt=fmt,
                                           filters=filters.as_dict(), rows=len(table.rows))
    out.seek(0)
    return FileResponse(out, as_attachment=True, filename=name, content_type=content_type)


def _query(form: ResearchFilterForm) -> str:
    """The valid filters as a query string, for the download links and the drill-downs' way back."""
    data = form.cleaned_data if form.is_valid() else {}
    return urlencode({k: v for k, v in data.items() if v not in ("", None)})
