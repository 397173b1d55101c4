"""POST /mcp: JSON-RPC 2.0, always HTTP 200 (OpenEnv's convention), even for refusals."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from episodes import mcp
from episodes.api import request_caller, with_anon_cookie
from episodes.errors import AUTH_REQUIRED_MESSAGE
from episodes.wire import inflate


@extend_schema(
    operation_id="mcp",
    summary="MCP over JSON-RPC 2.0: initialize, tools/list, tools/call. Always HTTP 200.",
    description="tools/call runs reset, query_ddi, propose_intervention, finish_review and state, each tool's "
                "inputSchema derived from the contract. Errors are JSON-RPC errors (-32700 unparsable, -32600 "
                "invalid request, -32602 invalid params) or a tool result with isError true, never an HTTP error.",
    tags=["mcp"],
    request=OpenApiTypes.OBJECT,
    responses={200: OpenApiTypes.OBJECT},
)
@api_view(["POST"])
@permission_classes([permissions.AllowAny])
def mcp_endpoint(request: Request) -> Response:
    caller, new_key = request_caller(request, channel="mcp")
    if caller.user_id is None and settings.POLYPHARMACY_API_AUTH == "required":
        return Response({"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": AUTH_REQUIRED_MESSAGE}})
    raw = inflate(request.body, request.headers.get("Content-Encoding", ""))
    # An anonymous client that keeps cookies gets the same key as from /reset, so its tool calls
    # find "your most recent open episode" without passing episode_id.
    return with_anon_cookie(Response(mcp.handle_raw(raw, caller)), new_key)
