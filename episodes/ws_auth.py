"""WebSocket authentication: a token (``?token=<key>`` or an Authorization header) on top of
Channels' session authentication, and the Origin check a session cookie needs.

``/ws`` authenticates once, at the handshake (``ApiSocketAuth``): Channels' session middleware
would wrap every frame the server sends to save a session that ``/ws`` never changes.

A browser sends the site's session cookie with a WebSocket handshake from any page, so a page
on another site could drive a logged-in user's episodes (cross-site WebSocket hijacking). A
connection whose user comes from the session cookie must therefore come from this site's own
origins (``ALLOWED_HOSTS``, ``CSRF_TRUSTED_ORIGINS``); token and anonymous connections carry
nothing a foreign page could borrow, and are not checked.

Invalid tokens count against the caller's address as over HTTP (``episodes.tokens``): past the
limit, a handshake that carries a token is refused (403) until the lock ends.
"""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace
from typing import cast
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.http.cookie import parse_cookie

from episodes.tokens import client_ip, token_failure, token_lock_remaining, valid_key_shape

THROTTLED = "throttled"  # scope["auth"] of a handshake refused for its address's invalid tokens


def _user_for_token(key: str, scope) -> tuple[object | None, bool]:
    """(the token's active user or None, whether the address is locked out of token use)."""
    from rest_framework.authtoken.models import Token

    ip = client_ip((scope.get("client") or ("",))[0])
    if token_lock_remaining(ip):
        return None, True
    token = Token.objects.select_related("user").filter(key=key).first() if valid_key_shape(key) else None
    if token and token.user.is_active:
        return token.user, False
    agent = next((v.decode("latin-1") for n, v in scope.get("headers", []) if n == b"user-agent"), "")
    return None, bool(token_failure(ip, user_agent=agent, path=scope.get("path", "")))


def _token_from_scope(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() in ("token", "bearer") and key:
                return key.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("token") or [None])[0]


@database_sync_to_async
def _authenticate(scope) -> tuple[object, str]:
    """(user, how): a token's user, else the session cookie's, else anonymous."""
    key = _token_from_scope(scope)
    if key:
        user, locked = _user_for_token(key, scope)
        if locked:
            return AnonymousUser(), THROTTLED
        if user is not None:
            return user, "token"
    cookies = next((value for name, value in scope.get("headers", []) if name == b"cookie"), b"")
    session_key = parse_cookie(cookies.decode("latin-1")).get(settings.SESSION_COOKIE_NAME)
    if session_key:
        session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        # get_user reads nothing of a request but its session.
        user = get_user(cast(HttpRequest, SimpleNamespace(session=session)))
        if user.is_authenticated:
            return user, "session"
    return AnonymousUser(), "anonymous"


class ApiSocketAuth:
    """``/ws``'s authentication, once per connection: ``scope["user"]`` and ``scope["auth"]``."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        user, how = await _authenticate(scope)
        if how == THROTTLED:
            return await WebsocketDenier()(scope, receive, send)
        return await self.app({**scope, "user": user, "auth": how}, receive, send)


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        key = _token_from_scope(scope)
        if key:
            user, locked = await database_sync_to_async(_user_for_token)(key, scope)
            if locked:
                return await WebsocketDenier()(scope, receive, send)
            if user is not None:
                scope = {**scope, "user": user, "auth": "token"}
        return await super().__call__(scope, receive, send)


class SessionOriginValidator:
    """Refuse the handshake (403) of a session-cookie connection from a foreign Origin."""

    def __init__(self, app) -> None:
        self.app = app
        self.checked = OriginValidator(app, [*settings.ALLOWED_HOSTS, *settings.CSRF_TRUSTED_ORIGINS])

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        has_origin = any(name == b"origin" for name, _ in scope.get("headers", []))
        if has_origin and scope.get("auth") != "token" and user is not None and user.is_authenticated:
            return await self.checked(scope, receive, send)
        return await self.app(scope, receive, send)
