"""Request-size limit: bodies over 1 MB get 413 before any view parses them."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from episodes.errors import MAX_BODY_BYTES


def _too_large() -> JsonResponse:
    return JsonResponse({"detail": f"Request body larger than {MAX_BODY_BYTES} bytes (1 MB)."}, status=413)


def _declared_too_large(request) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES
    except ValueError:
        return False


class BodySizeLimitMiddleware:
    # Both sync and async capable: under ASGI a sync-only middleware at the top would force a
    # thread hop (and back) around every other middleware of every request.
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        if _declared_too_large(request):
            return _too_large()
        try:
            return self.get_response(request)
        except RequestDataTooBig:  # a chunked body with no Content-Length
            return _too_large()

    async def __acall__(self, request):
        if _declared_too_large(request):
            return _too_large()
        try:
            return await self.get_response(request)
        except RequestDataTooBig:
            return _too_large()
