"""GET /health: the OpenEnv health probe, honest about the database."""

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 {"status": "healthy"} when the database answers, 503 {"status": "unhealthy"} if not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return JsonResponse({"status": "unhealthy", "detail": f"database unavailable: {exc}"}, status=503)
    return JsonResponse({"status": "healthy"})
