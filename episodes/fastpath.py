"""A fast path for ``POST /step`` on the event loop, in front of the Django view.

Under ASGI a sync view costs several thread hops per request (into the view's thread and back,
plus a thread per request for thread-sensitive code), which on a 2-core machine cost more than
the step itself. Most trainer traffic is anonymous steps on an episode this process has just
served, so this middleware answers exactly those from ``services.episode_step_cached`` and lets
everything else — authentication, cookies, errors, cache misses, conflicts — fall through to the
DRF view, which remains the one authority on every other case. The answer is byte-for-byte what
the view would give.
"""

from __future__ import annotations

import json

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpResponse

from envcore.errors import ValidationError
from episodes.requests import reject_nul
from episodes.services import Caller, episode_step_cached, wire_payload

_ANONYMOUS = Caller()


class StepFastPathMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if not self.is_async:
            return self.get_response(request)
        return self.__acall__(request)

    async def __acall__(self, request):
        if (
            settings.POLYPHARMACY_STEP_FAST_PATH
            and request.method == "POST"
            and request.path_info == "/step"
            and self._anonymous(request)
        ):
            response = await self._try(request)
            if response is not None:
                return response
        return await self.get_response(request)

    @staticmethod
    def _anonymous(request) -> bool:
        # Anything that could name a user goes the full way (DRF authentication).
        return (
            settings.POLYPHARMACY_API_AUTH != "required"
            and "HTTP_AUTHORIZATION" not in request.META
            and settings.SESSION_COOKIE_NAME not in request.COOKIES
        )

    async def _try(self, request):
        try:
            body = json.loads(request.body)
            reject_nul(body)  # PostgreSQL would refuse the step's write: the view answers 422
        except (ValueError, UnicodeDecodeError, ValidationError):
            return None
        if not isinstance(body, dict) or not isinstance(body.get("episode_id"), str) or set(body) - {
            "action", "episode_id", "timeout_s", "request_id"
        } or body.get("timeout_s") is not None or body.get("request_id") is not None:
            return None
        result = await episode_step_cached(_ANONYMOUS, action=body.get("action"), episode_id=body["episode_id"])
        if result is None:
            return None
        _row, obs = result
        # Encoded as DRF's JSONRenderer does (compact, UTF-8), so both paths answer alike.
        content = json.dumps(wire_payload(obs), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        response = HttpResponse(content, content_type="application/json")
        response["Content-Length"] = str(len(content))  # CommonMiddleware, which would add it, is bypassed
        return response
