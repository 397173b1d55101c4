"""``/mcp``: MCP's Streamable HTTP transport (``episodes.mcp_http``), POST only."""

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from pydantic_core import to_json
from rest_framework import permissions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from episodes.api import request_caller, with_anon_cookie
from episodes.errors import AUTH_REQUIRED_MESSAGE
from episodes.mcp import error_message
from episodes.mcp_http import mcp_http_answer
from episodes.wire import inflate


class AnyAccept(BaseContentNegotiation):
    """Every answer is JSON (or empty): an ``Accept: text/event-stream`` must not turn a GET into a
    406 before it can be told 405, nor refuse a POST."""

    def select_parser(self, request: Any, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(self, request: Any, renderers: Iterable[BaseRenderer], format_suffix: str | None = None) -> Any:
        first = list(renderers)[0]
        return first, first.media_type


class McpView(APIView):
    """POST only: GET (no server-to-client stream is offered) and DELETE (no transport session to
    end; OpenEnv's sessions close by a method) are DRF's 405."""

    permission_classes = [permissions.AllowAny]
    content_negotiation_class = AnyAccept

    @extend_schema(
        operation_id="mcp",
        summary="MCP over JSON-RPC 2.0: tools query_ddi, propose_intervention and finish_review, and OpenEnv's "
                "sessions.",
        description="Protocol versions 2024-11-05 to 2025-11-25 (initialize) and 2026-07-28 (server/discover, the "
                    "per-request envelope), chosen by the MCP-Protocol-Version header; any other version is a 400 "
                    "(-32022). tools/call answers structuredContent (each tool's outputSchema: observation, reward, "
                    "done) and the same as text. openenv/session/create gives a session_id: a WebSocket "
                    "/ws?session_id= resets its episode and tool calls naming the session act on it. Notifications: "
                    "202 with no body. Without the header (or with a handshake-era version) errors are JSON-RPC "
                    "errors in an HTTP 200 (OpenEnv's convention); with 2026-07-28 they take the SDK's statuses (400, "
                    "404). A tool's refusal is a result with isError true. GET and DELETE: 405.",
        tags=["mcp"],
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 202: None, 400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> HttpResponse:
        caller, new_key = request_caller(request, channel="mcp")
        if caller.user_id is None and settings.POLYPHARMACY_API_AUTH == "required":
            return _json(200, error_message(None, -32001, AUTH_REQUIRED_MESSAGE))
        raw = inflate(request.body, request.headers.get("Content-Encoding", ""))
        headers = {name.lower(): value for name, value in request.headers.items()}
        answer = mcp_http_answer(raw, headers, caller)
        # An anonymous client that keeps cookies gets the same key as from /reset, so its tool
        # calls find "your most recent open episode" without passing episode_id.
        return with_anon_cookie(_json(answer.status, answer.body), new_key)


def _json(status: int, body: dict | None) -> HttpResponse:
    if body is None:
        return HttpResponse(status=status)
    return HttpResponse(to_json(body), status=status, content_type="application/json")
