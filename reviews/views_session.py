"""A review's live fragments, its revision after a return, and supervisors' comments on its
steps: thin views over ``reviews.review_page`` and ``reviews.revisions``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts import permissions
from reviews import review_page, revisions, selectors, services
from reviews.audit import RequestMeta
from reviews.forms import SignOffForm, StepCommentForm
from reviews.views import _already_done, _rerender


@login_required
@require_GET
def review_live(request: HttpRequest, pk: int) -> JsonResponse:
    """The page's live regions rendered for this viewer by the page's own templates: a watching
    page replaces its regions with these when a step or a sign-off arrives. A colleague's fetch
    is audited like a page view (one per update: a watch cannot bypass the trail)."""
    session = selectors.session_for(request.user, pk)
    services.review_record_view(session, meta=RequestMeta.from_request(request), page="live")
    context = review_page.review_page(request, session)
    context["sign_off_form"] = SignOffForm()
    fragments = {element: render_to_string(template, context, request=request)
                 for template, element in review_page.FRAGMENTS}
    obs = context["obs"]
    return JsonResponse({
        "step_index": obs.step_index, "status": session.status, "done": obs.done, "live": context["live"],
        "queries_left": obs.remaining_query_budget, "interventions_left": obs.remaining_intervention_budget,
        "fragments": fragments,
    })


@login_required
@require_POST
def review_revise(request: HttpRequest, pk: int) -> HttpResponse:
    session = selectors.session_for(request.user, pk)
    permissions.require(request.user, "review.revise", owner_id=session.pharmacist_id)
    try:
        revision = revisions.review_revise(session, meta=RequestMeta.from_request(request))
    except services.DuplicateSubmission as exc:
        return _already_done(request, exc)
    except services.ReviewError as exc:
        return _rerender(request, session, status=exc.status, error=exc.message)
    messages.info(request, f"Revision of review {session.pk}: the same patient and task, from the start. "
                           "The returned review's steps and comments are below.")
    return HttpResponseRedirect(reverse("reviews:review", kwargs={"pk": revision.pk}))


@login_required
@require_POST
def review_comment(request: HttpRequest, pk: int) -> HttpResponse:
    session = selectors.session_for(request.user, pk)
    permissions.require(request.user, "review.comment", owner_id=session.pharmacist_id)
    form = StepCommentForm(request.POST)
    if form.is_valid():
        try:
            revisions.review_comment_step(session, meta=RequestMeta.from_request(request),
                                          index=form.cleaned_data["index"], comment=form.cleaned_data["comment"])
        except services.DuplicateSubmission as exc:
            return _already_done(request, exc)
        except services.ReviewError as exc:
            return _rerender(request, session, status=exc.status, error=exc.message, focus="page-error")
        return HttpResponseRedirect(reverse("reviews:review", kwargs={"pk": pk}) + f"#step-{form.cleaned_data['index']}")
    errors = " ".join(f"{name}: {' '.join(str(m) for m in e)}" for name, e in form.errors.items())
    return _rerender(request, session, error=f"The comment was not saved ({errors})")
