"""API tokens with a throttle on invalid ones (README, "Accounts and permissions").

django-axes watches password logins only; a token (``Authorization: Token <key>`` over HTTP,
``?token=`` or the header on a WebSocket) never reaches it. Here every invalid token counts
against the caller's address: after ``TOKEN_FAILURE_LIMIT`` within ``TOKEN_LOCKOUT_MINUTES``,
every token request from that address is refused for ``TOKEN_LOCKOUT_MINUTES`` — valid ones
too, or the answer itself would tell a guesser which key is right. HTTP answers 429 with
``Retry-After`` and ``{"detail": "..."}`` (the API's error shape); a WebSocket handshake is
refused. Session and anonymous requests from the address are not affected, and password
logins are counted apart (django-axes), so a script with a stale token does not lock its
office out of the login page.

The counters live in Django's cache: Redis when ``REDIS_URL`` is set (shared by every process),
else each process's memory (each process then counts on its own). Should the cache fail, tokens
are checked unthrottled (logged): the throttle must not take the API down with it.

``token_locked_out`` is sent once per lock, with ``ip``, ``user_agent``, ``path`` and
``failures``; ``reviews.throttle`` appends it to the audit trail (this app imports nothing from
``reviews``).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.dispatch import Signal
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

log = logging.getLogger(__name__)

token_locked_out = Signal()
MAX_KEY_LENGTH = 40  # DRF's keys are 40 hex characters


def client_ip(remote_addr: Any) -> str:
    """The caller's address as the audit trail writes it (REMOTE_ADDR, normalised), or ""."""
    try:
        return str(ipaddress.ip_address(str(remote_addr or "")))
    except ValueError:
        return ""


def _failures_key(ip: str) -> str:
    return f"token-failures:{ip}"


def _lock_key(ip: str) -> str:
    return f"token-lock:{ip}"


def token_throttle_reset(ip: str) -> None:
    """Forget the address's failures and lift its lock."""
    try:
        cache.delete_many([_failures_key(ip), _lock_key(ip)])
    except Exception:
        log.warning("token throttle: the cache is not answering; nothing was reset", exc_info=True)


def token_lock_remaining(ip: str) -> int:
    """Seconds left of the address's lock (0: not locked)."""
    try:
        until = cache.get(_lock_key(ip))
    except Exception:  # the cache (Redis) is away: check tokens unthrottled rather than fail
        log.warning("token throttle: the cache is not answering; tokens are checked unthrottled", exc_info=True)
        return 0
    return max(0, math.ceil(until - time.time())) if until else 0


def token_failure(ip: str, *, user_agent: str = "", path: str = "") -> int:
    """Count one invalid token from ``ip``; the seconds of the lock it starts or is under (0: none)."""
    lock_s = settings.TOKEN_LOCKOUT_MINUTES * 60
    try:
        # A window that starts at the first failure: the limit is per TOKEN_LOCKOUT_MINUTES.
        cache.add(_failures_key(ip), 0, timeout=lock_s)
        try:
            failures = cache.incr(_failures_key(ip))
        except ValueError:  # the window ended between add and incr
            cache.set(_failures_key(ip), 1, timeout=lock_s)
            failures = 1
        if failures < settings.TOKEN_FAILURE_LIMIT:
            return 0
        started = cache.add(_lock_key(ip), time.time() + lock_s, timeout=lock_s)
    except Exception:
        log.warning("token throttle: the cache is not answering; this failure was not counted", exc_info=True)
        return 0
    if started:  # once per lock, whichever process saw the failure that started it
        log.warning("token throttle: %s locked for %s s after %s invalid tokens", ip or "?", lock_s, failures)
        token_locked_out.send(__name__, ip=ip, user_agent=user_agent, path=path, failures=failures)
    return token_lock_remaining(ip) or lock_s


def locked_message(remaining_s: int) -> str:
    minutes = max(1, math.ceil(remaining_s / 60))
    return (f"Too many invalid API tokens from this address ({settings.TOKEN_FAILURE_LIMIT} within "
            f"{settings.TOKEN_LOCKOUT_MINUTES} minutes): token authentication is locked for this address for "
            f"{minutes} more minute{'s' if minutes != 1 else ''}. Check the token you send.")


def valid_key_shape(key: str) -> bool:
    """Worth a database look-up: not too long, no NUL (PostgreSQL refuses it in a query)."""
    return 0 < len(key) <= MAX_KEY_LENGTH and "\x00" not in key


class ThrottledTokenAuthentication(TokenAuthentication):
    """DRF's ``TokenAuthentication`` (``Authorization: Token <key>``), with the address throttle."""

    def authenticate(self, request: Any) -> Any:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # no token: session or anonymous, not ours to count
        ip = client_ip(request.META.get("REMOTE_ADDR"))
        remaining = token_lock_remaining(ip)
        if remaining:
            raise Throttled(wait=remaining, detail=locked_message(remaining))
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            remaining = token_failure(ip, user_agent=request.META.get("HTTP_USER_AGENT", ""), path=request.path)
            if remaining:
                raise Throttled(wait=remaining, detail=locked_message(remaining)) from None
            raise

    def authenticate_credentials(self, key: str) -> Any:
        if not valid_key_shape(key):
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
