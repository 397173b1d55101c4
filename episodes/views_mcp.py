"""POST /mcp: JSON-RPC 2.0, always HTTP 200 (OpenEnv's convention), even for refusals."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from episodes import mcp
from episodes.services import Caller


@extend_schema(
    operation_id="mcp",
    summary="MCP over JSON-RPC 2.0: initialize, tools/list, tools/call. Always HTTP 200.",
    request=OpenApiTypes.OBJECT,
    responses={200: OpenApiTypes.OBJECT},
)
@api_view(["POST"])
@permission_classes([permissions.AllowAny])
def mcp_endpoint(request: Request) -> Response:
    user = request.user
    if user is not None and user.is_authenticated:
        caller = Caller.for_user(user, channel="mcp")
    elif settings.POLYPHARMACY_API_AUTH == "required":
        return Response({"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": "Authentication required."}})
    else:
        caller = Caller(anon_key=request.COOKIES.get("polypharmacy_anon", ""))
    return Response(mcp.handle_raw(request.body, caller))
