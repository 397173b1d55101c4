"""The review pages: thin function views over ``reviews.services`` and ``reviews.selectors``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from catalog.selectors import DEFAULT_CATALOG, catalog_get
from envcore.catalog import CATALOG_NAMES
from episodes.services import Caller, episode_observation
from accounts import permissions
from jobs.models import Checkpoint
from reviews import clinical, review_page, selectors, services
from reviews.audit import RequestMeta
from reviews.forms import (
    FinishForm,
    InterventionForm,
    PatientFilterForm,
    QueryForm,
    SessionFilterForm,
    SignOffForm,
    StartSessionForm,
    SuggestForm,
    SuggestionAnswerForm,
)
from reviews.models import ReviewSession

PAGE_SIZE = 50


# The first page each account may open, in this order (accounts.permissions decides).
HOME_PAGES = (("review.view", "reviews:sessions"), ("research.view", "reviews:research"),
              ("jobs.view", "jobs:list"), ("admin.use", "admin:index"))


def _already_done(request: HttpRequest, exc: services.DuplicateSubmission) -> HttpResponse:
    """A repeated submission: 303 See Other to the review, which shows the first one's outcome,
    with the reason as a notice. Not an error status: of a double click the browser shows this
    answer, and what the pharmacist asked for did happen (once)."""
    messages.info(request, exc.message)
    response = HttpResponseRedirect(reverse("reviews:review", kwargs={"pk": exc.session_pk}))
    response.status_code = 303
    return response


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    for action, page in HOME_PAGES:
        if permissions.allowed(request.user, action):
            return redirect(page)
    raise PermissionDenied("Your account has no role yet; ask an administrator.")


# ── patients and starting a review ─────────────────────────────────────────
@login_required
@require_GET
def patients(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "patients.view")
    catalog_name = request.GET.get("catalog") or DEFAULT_CATALOG
    if catalog_name not in CATALOG_NAMES:
        catalog_name = DEFAULT_CATALOG
    catalog = catalog_get(catalog_name)  # one stamp query; the rows are cached with the catalog
    form = PatientFilterForm(request.GET or None, conditions=selectors.catalog_conditions(catalog))
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {
            "task_id": data["task"], "condition": data["condition"], "search": data["q"],
            "min_drugs": data["min_drugs"], "max_drugs": data["max_drugs"],
            "min_risk": data["min_risk"], "max_risk": data["max_risk"],
        }
    rows = selectors.patient_list(catalog=catalog, **filters) if not form.errors else []
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reviews/patients.html", {
        "form": form, "page": page, "catalog_name": catalog_name, "total": len(rows),
        "query": query.urlencode(), "can_start": permissions.allowed(request.user, "review.start"),
    })


@login_required
@require_POST
def session_start(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "review.start")
    form = StartSessionForm(request.POST)
    if form.is_valid():
        try:
            session = services.review_start(
                meta=RequestMeta.from_request(request), patient_id=form.cleaned_data["patient_id"],
                task_id=form.cleaned_data["task_id"], catalog_name=form.cleaned_data["catalog"],
            )
        except services.DuplicateSubmission as exc:
            return _already_done(request, exc)
        except services.ReviewError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return redirect("reviews:review", pk=session.pk)
    return render(request, "reviews/start_failed.html", {"form": form}, status=422)


@login_required
@require_GET
def sessions(request: HttpRequest) -> HttpResponse:
    permissions.require(request.user, "review.view")
    supervisor = permissions.scope(request.user, "review.view") == permissions.ANY
    form = SessionFilterForm(request.GET or None, supervisor=supervisor)
    status = 200
    if form.is_bound and not form.is_valid():
        qs, status = ReviewSession.objects.none(), 422  # refused filters show no rows, not all of them
    else:
        data = form.cleaned_data if form.is_bound else {}
        qs = selectors.session_list(request.user, selectors.SessionFilters(
            pharmacist=data.get("pharmacist") or "", patient=data.get("patient") or "", task_id=data.get("task") or "",
            status=data.get("status") or "", since=data.get("since"), until=data.get("until"),
            min_score=data.get("min_score"), max_score=data.get("max_score"),
        ))
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reviews/sessions.html", {
        "page": page, "form": form, "query": query.urlencode(), "is_supervisor": supervisor,
    }, status=status)


# ── the review page ────────────────────────────────────────────────────────
def _review_context(request: HttpRequest, session: ReviewSession, **forms: Any) -> dict[str, Any]:
    context = review_page.review_page(request, session)
    obs, catalog = context["obs"], context["catalog"]
    regimen = [(m.drug_id, f"{m.generic_name} ({m.drug_id})") for m in obs.current_medications]
    substitutes = selectors.substitute_choices(catalog, context["regimen_ids"])
    can_act = context["can_act"]
    context.update({
        "query_form": forms.get("query_form") or QueryForm(regimen=regimen),
        "intervention_form": forms.get("intervention_form") or InterventionForm(regimen=regimen, substitutes=substitutes),
        "sign_off_form": forms.get("sign_off_form") or SignOffForm(),
        # Only whoever can act is offered suggestions (the form lists checkpoints: a query).
        "suggest_form": forms.get("suggest_form") or (_suggest_form(catalog_name=session.catalog_name) if can_act else None),
        "suggestion": review_page.suggestion_shown(session, request.GET.get("suggestion", ""), catalog) if can_act else None,
        "confirm": forms.get("confirm"), "error": forms.get("error"), "comment_form": forms.get("comment_form"),
        # Where the eye goes once the page is shown: a refused form's error, else the last result.
        "focus": forms.get("focus", ""),
    })
    return context


@login_required
@require_GET
def review(request: HttpRequest, pk: int) -> HttpResponse:
    session = selectors.session_for(request.user, pk)
    services.review_record_view(session, meta=RequestMeta.from_request(request), page="review")
    return render(request, "reviews/review.html", _review_context(request, session))


def _rerender(request: HttpRequest, session: ReviewSession, status: int = 422, **forms: Any) -> HttpResponse:
    session.episode.refresh_from_db()
    forms.setdefault("focus", "page-error")
    return render(request, "reviews/review.html", _review_context(request, session, **forms), status=status)


def _apply_refusal(form: Any, field: str | None, message: str) -> None:
    form.add_error(field if field in form.fields else None, message)


def _plain(session: ReviewSession, message: str) -> str:
    """An environment refusal in the page's words (the audit record keeps the environment's)."""
    return clinical.plain_message(catalog_get(session.catalog_name), message)


def _to_result(pk: int) -> HttpResponse:
    """After a step: the review, scrolled to what the step did (the page's script focuses it)."""
    return HttpResponseRedirect(reverse("reviews:review", kwargs={"pk": pk}) + "#last-result")


def _choices(session: ReviewSession) -> tuple[list[tuple[str, str]], list[Any]]:
    """The regimen (value, label) pairs and the valid substitutes, for the forms' selects."""
    obs = episode_observation(Caller(user_id=session.pharmacist_id), episode_id=session.episode.episode_id)
    regimen = [(m.drug_id, f"{m.generic_name} ({m.drug_id})") for m in obs.current_medications]
    return regimen, selectors.substitute_choices(catalog_get(session.catalog_name), [r[0] for r in regimen])


def _acting_session(request: HttpRequest, pk: int) -> ReviewSession:
    """The session, if the user may see it (else 403/404) and act on it (else 403), before any
    form is read: a watcher's malformed post is refused, not validated."""
    session = selectors.session_for(request.user, pk)
    permissions.require(request.user, "review.act", owner_id=session.pharmacist_id)
    return session


def _step_view(request: HttpRequest, pk: int, form_class: type, form_key: str) -> HttpResponse:
    session = _acting_session(request, pk)
    regimen, substitutes = _choices(session)
    kwargs: dict[str, Any] = {"regimen": regimen}
    if form_class is InterventionForm:
        kwargs["substitutes"] = substitutes
    form = form_class(request.POST, **kwargs)
    status = 422
    if form.is_valid():
        try:
            outcome = services.review_step(session, meta=RequestMeta.from_request(request), action=form.action(),
                                           at_step=form.cleaned_data["at_step"],
                                           repeat_ok=form.cleaned_data.get("repeat", True))
        except services.DuplicateSubmission as exc:
            return _already_done(request, exc)
        except services.ReviewError as exc:
            _apply_refusal(form, exc.field, _plain(session, exc.message))
            status = exc.status
        else:
            if outcome.refusal is None:
                return _to_result(pk)
            _apply_refusal(form, outcome.refusal[0], _plain(session, outcome.refusal[1]))
    return _rerender(request, session, status=status, focus=form_key.replace("_form", "-form"), **{form_key: form})


@login_required
@require_POST
def review_query(request: HttpRequest, pk: int) -> HttpResponse:
    return _step_view(request, pk, QueryForm, "query_form")


@login_required
@require_POST
def review_intervene(request: HttpRequest, pk: int) -> HttpResponse:
    return _step_view(request, pk, InterventionForm, "intervention_form")


@login_required
@require_POST
def review_finish(request: HttpRequest, pk: int) -> HttpResponse:
    session = _acting_session(request, pk)
    form = FinishForm(request.POST)
    if not form.is_valid():
        return _rerender(request, session, error=form.errors["at_step"][0])
    if not form.cleaned_data["confirmed"]:
        # Without the page's script (which asks in a dialog): ask here; nothing is done yet.
        return _rerender(request, session, status=200, focus="confirm", confirm={
            "action": reverse("reviews:finish", kwargs={"pk": pk}), "at_step": form.cleaned_data["at_step"],
            "question": "Finish the review now? It is graded at once and takes no more steps."})
    try:
        outcome = services.review_finish(session, meta=RequestMeta.from_request(request),
                                         at_step=form.cleaned_data["at_step"])
    except services.DuplicateSubmission as exc:
        return _already_done(request, exc)
    except services.ReviewError as exc:
        return _rerender(request, session, status=exc.status, error=exc.message)
    if outcome.refusal is not None:
        return _rerender(request, session, error=_plain(session, outcome.refusal[1]))
    return _to_result(pk)


def _suggest_form(data: Any = None, catalog_name: str | None = None) -> SuggestForm:
    config = services.llm_config()
    # The newest trained policies of the session's catalog (a policy reads drugs of its catalog).
    policies = Checkpoint.objects.filter(kind=Checkpoint.Kind.POLICY, catalog=catalog_name or "").values_list(
        "name", "task_id")[:20]
    return SuggestForm(data, llm_model=config.model if config else None, policies=list(policies))


@login_required
@require_POST
def review_suggest(request: HttpRequest, pk: int) -> HttpResponse:
    session = _acting_session(request, pk)
    form = _suggest_form(request.POST, session.catalog_name)
    if not form.is_valid():
        return _rerender(request, session, suggest_form=form)
    try:
        record = services.review_suggest(
            session, meta=RequestMeta.from_request(request), suggester=form.cleaned_data["suggester"],
            at_step=form.cleaned_data["at_step"],
        )
    except services.DuplicateSubmission as exc:
        if request.headers.get("Accept", "").startswith("application/json"):
            # The page's script asks with fetch, which would follow a redirect silently.
            return JsonResponse({"detail": exc.message}, status=409)
        return _already_done(request, exc)
    except services.ReviewError as exc:
        if exc.field == "suggester":
            form.add_error("suggester", exc.message)
            return _rerender(request, session, suggest_form=form)
        return _rerender(request, session, status=exc.status, error=exc.message)
    if request.headers.get("Accept", "").startswith("application/json"):
        # The suggestion as the page renders it (the same template), and its fields.
        shown = review_page.suggestion_view(record, catalog_get(session.catalog_name))
        html = render_to_string("reviews/_suggestion.html", {"suggestion": shown, "session": session}, request=request)
        return JsonResponse({**{k: shown[k] for k in ("id", "action", "text", "suggester", "requested", "model",
                                                        "fallback_reason", "reason", "top")}, "html": html})
    return redirect(reverse("reviews:review", kwargs={"pk": pk}) + f"?suggestion={record.pk}#suggestion")


@login_required
@require_POST
def review_answer_suggestion(request: HttpRequest, pk: int) -> HttpResponse:
    session = _acting_session(request, pk)
    meta = RequestMeta.from_request(request)
    form = SuggestionAnswerForm(request.POST)
    if not form.is_valid():
        return _rerender(request, session, error="Answer a suggestion with accept or ignore.")
    data = form.cleaned_data
    if data["decision"] == "accept" and not data["confirmed"] and selectors.suggestion_finishes(session, data["suggestion_id"]):
        return _rerender(request, session, status=200, focus="confirm", confirm={
            "action": reverse("reviews:answer-suggestion", kwargs={"pk": pk}), "suggestion_id": data["suggestion_id"],
            "question": "The suggestion is to finish the review. Finish it now? It is graded at once and takes no more steps."})
    try:
        if form.cleaned_data["decision"] == "accept":
            outcome = services.review_accept_suggestion(session, meta=meta, suggestion_id=form.cleaned_data["suggestion_id"])
            if outcome.refusal is not None:
                return _rerender(request, session, error=f"The suggestion was refused: {_plain(session, outcome.refusal[1])}")
        else:
            services.review_ignore_suggestion(session, meta=meta, suggestion_id=form.cleaned_data["suggestion_id"])
            return redirect("reviews:review", pk=pk)
    except services.DuplicateSubmission as exc:
        return _already_done(request, exc)
    except services.ReviewError as exc:
        return _rerender(request, session, status=exc.status, error=exc.message)
    return _to_result(pk)


@login_required
@require_POST
def review_sign_off(request: HttpRequest, pk: int) -> HttpResponse:
    session = selectors.session_for(request.user, pk)
    permissions.require(request.user, "review.sign_off", owner_id=session.pharmacist_id)
    form = SignOffForm(request.POST)
    status = 422
    if form.is_valid():
        try:
            services.review_sign_off(
                session, meta=RequestMeta.from_request(request),
                approve=form.cleaned_data["decision"] == "approve", comment=form.cleaned_data["comment"],
            )
        except services.DuplicateSubmission as exc:
            return _already_done(request, exc)
        except services.ReviewError as exc:
            _apply_refusal(form, exc.field, exc.message)
            status = exc.status
        else:
            return redirect("reviews:review", pk=pk)
    return _rerender(request, session, status=status, sign_off_form=form)
