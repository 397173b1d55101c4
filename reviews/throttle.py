"""Login throttling: django-axes' lockout page, the audit of every lock, and the password gate.

- django-axes (``AxesStandaloneBackend``, first of ``AUTHENTICATION_BACKENDS``) counts failed
  logins at ``/accounts/login/`` and the admin's login, and refuses a locked username or address
  before any password is hashed. The settings say which locks and why (``AXES_*``).
- ``lockout_response``: what a locked login gets, a 429 page saying it is locked and for how
  much longer (``Retry-After`` too).
- ``audit_login_lockout`` / ``audit_token_lockout``: each lock is appended to the audit trail
  (``account.locked``) once, when it starts; attempts refused during it are not.
- ``GatedModelBackend``: Django's ``ModelBackend`` hashing at most ``LOGIN_CONCURRENCY``
  passwords at once per process. A flood of logins (right or wrong) then queues for the gate
  instead of taking every core from every other request; a login that gets its turn asks
  django-axes again (the flood may have started a lock meanwhile); past ``LOGIN_QUEUE_S`` of
  waiting a login is answered 503 (``LoginBusyMiddleware``) and is not counted as a failure.
"""

from __future__ import annotations

import math
import threading
from datetime import timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.db.models import Max, Sum
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from episodes.tokens import token_locked_out
from reviews.audit import MAX_USER_AGENT, RequestMeta, audit_append
from reviews.models import AuditRecord

MAX_USERNAME = 150


# ── the lockout page ───────────────────────────────────────────────────────
def lock_remaining(request: HttpRequest, credentials: dict | None) -> timedelta:
    """How much longer the lock that refused this login lasts: it ends LOGIN_LOCKOUT_MINUTES after
    the newest counted failure of the criterion (username, address) that reached the limit."""
    limit = settings.AXES_FAILURE_LIMIT
    newest = None
    for attempts in AxesProxyHandler.get_implementation().get_user_attempts(request, credentials):
        totals = attempts.aggregate(failures=Sum("failures_since_start"), newest=Max("attempt_time"))
        if (totals["failures"] or 0) >= limit and totals["newest"] is not None:
            newest = totals["newest"] if newest is None else max(newest, totals["newest"])
    if newest is None:
        return settings.AXES_COOLOFF_TIME
    return max(timedelta(0), newest + settings.AXES_COOLOFF_TIME - timezone.now())


def _minutes(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds() / 60))


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the 429 page. (axes' async middleware passes the credentials in
    the second place, hence the shuffle.)"""
    if credentials is None and isinstance(original_response, dict):
        credentials = original_response
    remaining = lock_remaining(request, credentials)
    response = render(request, "reviews/locked.html", {
        "minutes": _minutes(remaining), "limit": settings.AXES_FAILURE_LIMIT,
        "lock_minutes": _minutes(settings.AXES_COOLOFF_TIME),
    }, status=settings.AXES_HTTP_RESPONSE_CODE)
    response["Retry-After"] = str(max(1, math.ceil(remaining.total_seconds())))
    return response


# ── the audit of every lock ────────────────────────────────────────────────
def _request_meta(request: HttpRequest) -> RequestMeta:
    """Who tried: the request's user (anonymous, since the login failed), address and browser."""
    if not hasattr(request, "user"):  # a request that did not pass AuthenticationMiddleware
        request.user = AnonymousUser()
    return RequestMeta.from_request(request)


@receiver(user_locked_out, dispatch_uid="reviews.throttle.audit_login_lockout")
def audit_login_lockout(sender: Any, request: HttpRequest | None = None, username: str | None = None,
                        ip_address: str | None = None, **kwargs: Any) -> None:
    # axes sends this for the failure that starts a lock and again for every attempt refused
    # during it; only the first has counted failures on the request.
    failures = getattr(request, "axes_failures_since_start", None)
    if request is None or failures is None:
        return
    name = (username or get_client_username(request) or "")[:MAX_USERNAME]
    audit_append(meta=_request_meta(request), action=AuditRecord.Action.ACCOUNT_LOCKED, payload={
        "kind": "login", "username": name,
        "known_user": bool(name) and get_user_model().objects.filter(username=name).exists(),
        "failures": failures, "limit": settings.AXES_FAILURE_LIMIT,
        "lockout_minutes": _minutes(settings.AXES_COOLOFF_TIME),
        "locked_by": [p if isinstance(p, str) else "+".join(p) for p in settings.AXES_LOCKOUT_PARAMETERS],
        "path": request.path[:200],
    })


@receiver(token_locked_out, dispatch_uid="reviews.throttle.audit_token_lockout")
def audit_token_lockout(sender: Any, ip: str = "", user_agent: str = "", path: str = "", failures: int = 0,
                        **kwargs: Any) -> None:
    audit_append(meta=RequestMeta(user=AnonymousUser(), ip=ip, user_agent=user_agent[:MAX_USER_AGENT]),
                 action=AuditRecord.Action.ACCOUNT_LOCKED, payload={
                     "kind": "api_token", "username": None, "failures": failures,
                     "limit": settings.TOKEN_FAILURE_LIMIT, "lockout_minutes": settings.TOKEN_LOCKOUT_MINUTES,
                     "locked_by": ["ip_address"], "path": path[:200],
                 })


# ── the password gate ──────────────────────────────────────────────────────
class LoginBusy(Exception):
    """Every password-hashing slot stayed taken for LOGIN_QUEUE_S: answer 503, count nothing."""


_gate: threading.BoundedSemaphore | None = None
_gate_size = 0
_gate_lock = threading.Lock()


def password_gate() -> threading.BoundedSemaphore:
    global _gate, _gate_size
    with _gate_lock:
        if _gate is None or _gate_size != settings.LOGIN_CONCURRENCY:
            _gate, _gate_size = threading.BoundedSemaphore(settings.LOGIN_CONCURRENCY), settings.LOGIN_CONCURRENCY
        return _gate


class GatedModelBackend(ModelBackend):
    def authenticate(self, request: Any, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:
        gate = password_gate()
        if not gate.acquire(timeout=settings.LOGIN_QUEUE_S):
            raise LoginBusy()
        try:
            # Ask django-axes again: a lock may have started while this login waited its turn
            # (a flood passes the first check all at once), and a locked login costs no hash.
            AxesStandaloneBackend().authenticate(request, username=username, password=password, **kwargs)
            return super().authenticate(request, username=username, password=password, **kwargs)
        finally:
            gate.release()


class LoginBusyMiddleware:
    """Turns ``LoginBusy`` into a 503 login page with ``Retry-After`` (never a 500)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, LoginBusy):
            return None
        response = render(request, "reviews/login_busy.html", status=503)
        response["Retry-After"] = "5"
        return response


def axes_username(request: Any, credentials: dict[str, Any] | None) -> str:
    """django-axes' username for an attempt (AXES_USERNAME_CALLABLE): what it would take by default
    (the credentials, else the posted form), at most as long as a username can be."""
    field = settings.AXES_USERNAME_FORM_FIELD  # type: ignore[misc]  # django-axes sets it (axes/conf.py)
    raw = credentials.get(field) if credentials else getattr(request, "POST", {}).get(field)
    return str(raw or "")[:150]
