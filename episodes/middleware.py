"""Request-size limit: bodies over 1 MB get 413 before any view parses them."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from episodes.errors import MAX_BODY_BYTES


def _too_large() -> JsonResponse:
    return JsonResponse({"detail": f"Request body larger than {MAX_BODY_BYTES} bytes (1 MB)."}, status=413)


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            return _too_large()
        try:
            return self.get_response(request)
        except RequestDataTooBig:  # a chunked body with no Content-Length
            return _too_large()
