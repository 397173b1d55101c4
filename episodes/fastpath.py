"""The HTTP fast path: ``POST /step`` and ``POST /reset`` answered on the event loop, before
Django, for the traffic a trainer makes — anonymous steps on an episode this process serves, and
fresh anonymous resets.

Under ASGI a Django view costs several thread hops per request (the view's thread, the request
signals' threads) and the whole middleware stack, which on a 2-core machine cost more than the
step itself. These handlers take the same one step path (``episodes.steps``) with the async
writer, and answer with the bytes the DRF view would. Anything they cannot decide alone —
authentication, a malformed body, a cache miss, a stored episode to resume — they decline
(``False``) and the edge hands the request to Django, which remains the one authority on every
other case.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from django.conf import settings
from django.http.cookie import parse_cookie
from pydantic_core import to_json

from envcore.contract import ResetRequest, StepRequest, validate
from envcore.errors import ValidationError
from envcore.strict_json import strict_loads
from episodes.api import ANON_COOKIE, anon_cookie, valid_anon_key
from episodes.errors import as_domain_error, error_body
from episodes.services import episode_start_async, wire_body
from episodes.sessions import Caller, env_cache
from episodes.steps import episode_step_async

Send = Any


def _headers(scope: dict[str, Any]) -> dict[bytes, bytes]:
    return dict(scope.get("headers") or ())


def _secure(scope: dict[str, Any], headers: dict[bytes, bytes]) -> bool:
    """HTTPS as Django's ``request.is_secure()`` judges it: the proxy's header when one is
    configured and sent, else the connection's scheme."""
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        value = headers.get(proxy[0].removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1"))
        if value is not None:
            return value.split(b",")[0].strip().decode("latin-1") == proxy[1]
    return scope.get("scheme") == "https"


def _anonymous(scope: dict[str, Any], headers: dict[bytes, bytes]) -> bool:
    # Anything that could name a user goes the full way (DRF authentication); so does a body
    # that needs inflating, and plain HTTP when the site redirects it to HTTPS (Django does that).
    if not settings.POLYPHARMACY_STEP_FAST_PATH or settings.POLYPHARMACY_API_AUTH == "required":
        return False
    if settings.SECURE_SSL_REDIRECT and not _secure(scope, headers):
        return False
    if b"authorization" in headers or b"content-encoding" in headers:
        return False
    cookies = headers.get(b"cookie")
    return cookies is None or settings.SESSION_COOKIE_NAME.encode() not in cookies


async def _respond(send: Send, status: int, body: bytes, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


def _request(body: bytes, model: Any) -> Any:
    """The validated body, or None: a malformed one is the DRF view's to answer."""
    try:
        return validate(model, strict_loads(body) if body.strip() else {})
    except ValidationError:
        return None


async def step(scope: dict[str, Any], body: bytes, send: Send) -> bool:
    if not _anonymous(scope, _headers(scope)):
        return False
    request = _request(body, StepRequest)
    if request is None or request.episode_id is None:
        return False
    session = env_cache.take(request.episode_id)
    if session is None:
        return False
    caller = Caller()
    if not (session.row.visible_to(caller) and session.steppable):
        env_cache.put(session)  # someone else's, or finished: the view's 404/409
        return False
    try:
        result = await episode_step_async(caller, session, request.action)
    except Exception as exc:
        domain = as_domain_error(exc)
        if domain is None:
            raise
        env_cache.put(session)  # nothing was stored: the session is as it was
        status, payload = error_body(domain)
        await _respond(send, status, to_json(payload))
        return True
    await _respond(send, 200, wire_body(result.observation, encoded=result.observation_json))
    return True


async def reset(scope: dict[str, Any], body: bytes, send: Send) -> bool:
    headers = _headers(scope)
    if not _anonymous(scope, headers):
        return False
    request = _request(body, ResetRequest)
    if request is None or request.episode_id is not None:
        return False
    key = parse_cookie(headers.get(b"cookie", b"").decode("latin-1")).get(ANON_COOKIE)
    if valid_anon_key(key):
        anon_key, new_key = key, None
    else:
        anon_key = new_key = secrets.token_hex(16)
    try:
        session = await episode_start_async(Caller(anon_key=anon_key), request)
    except Exception as exc:  # an unknown patient, say: the view's answer, from here
        domain = as_domain_error(exc)
        if domain is None:
            raise
        status, payload = error_body(domain)
        await _respond(send, status, to_json(payload))
        return True
    if session is None:
        return False
    env_cache.put(session)
    assert session.env.observation is not None
    extra = [(b"set-cookie", anon_cookie(new_key).OutputString().encode())] if new_key else []
    await _respond(send, 200, wire_body(session.env.observation, reset=True), extra)
    return True


HANDLERS: dict[tuple[str, str], Callable[[dict[str, Any], bytes, Send], Awaitable[bool]]] = {
    ("POST", "/step"): step, ("POST", "/reset"): reset}
