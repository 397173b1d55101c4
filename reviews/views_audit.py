"""Audit pages (a session's trail; the filterable list for supervisors) and the researchers'
anonymised view of finished reviews."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from reviews import permissions, selectors, services
from reviews.audit import RequestMeta
from reviews.forms import AuditFilterForm

PAGE_SIZE = 100


@login_required
@require_GET
def session_audit(request: HttpRequest, pk: int) -> HttpResponse:
    session = selectors.session_for(request.user, pk)
    services.review_record_view(session, meta=RequestMeta.from_request(request), page="audit")
    records = selectors.audit_for_session(session)
    return render(request, "reviews/audit_session.html", {"session": session, "records": records})


@login_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "audit.view")
    form = AuditFilterForm(request.GET or None)
    filters = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {"actor": data["actor"], "action": data["action"], "session_id": data["session"],
                   "since": data["since"], "until": data["until"]}
    records = selectors.audit_list(**filters) if not form.errors else selectors.audit_list().none()
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reviews/audit_list.html", {"form": form, "page": page, "query": query.urlencode()})


@login_required
@require_GET
def research(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "research.view")
    table = selectors.research_rows()
    return render(request, "reviews/research.html", {"rows": table.rows, "table": table})
