"""The site's handlers for errors: DRF's exception handler (settings' REST_FRAMEWORK), which
turns the domain errors (``envcore.errors``) and DRF's own into the one error shape of
``episodes.errors``. The pages' error pages are the site's templates (templates/400, 403, 404, 500.html).
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from envcore.errors import EnvError, PayloadTooLarge
from episodes.errors import AUTH_REQUIRED_MESSAGE, TOO_LARGE_MESSAGE, as_domain_error, error_body


def error_response(exc: EnvError) -> Response:
    status, body = error_body(exc)
    return Response(body, status=status)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's exception handler: the domain errors, and DRF's own in the same shapes."""
    domain = as_domain_error(exc)
    if domain is not None:
        return error_response(domain)
    if isinstance(exc, RequestDataTooBig):
        return error_response(PayloadTooLarge(TOO_LARGE_MESSAGE))
    if isinstance(exc, drf_exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        found = [{"type": "value_error", "loc": ["body", name], "msg": f"{name}: {message}", "input": None}
                 for name, messages in detail.items() for message in (messages if isinstance(messages, list) else [messages])]
        return Response({"detail": found}, status=422)
    response = drf_default_handler(exc, context)
    if response is not None and isinstance(exc, drf_exceptions.NotAuthenticated):
        # DRF says only "credentials were not provided"; say how to provide them. The 401 and
        # its WWW-Authenticate header are DRF's (TokenAuthentication is the first class).
        response.data = {"detail": AUTH_REQUIRED_MESSAGE}
    return response
