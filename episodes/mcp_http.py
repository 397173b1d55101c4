"""MCP's Streamable HTTP rules for ``POST /mcp`` (the meaning of each message is ``episodes.mcp``).

The ``MCP-Protocol-Version`` header picks the era, as the official SDK's server does:
- absent (2025-03-26 assumed) or a handshake-era version (up to 2025-11-25): JSON-RPC answers are
  HTTP 200 whatever they say (OpenEnv's servers and its validator expect that), a notification or
  a client's response is 202 with no body;
- 2026-07-28: every request carries its own envelope (``params._meta``: protocol version and client
  capabilities) and the ``MCP-Protocol-Version``, ``Mcp-Method`` and ``Mcp-Name`` headers must
  agree with the body (-32020 otherwise); errors take the SDK's HTTP statuses (400, 404);
- any other value: 400 with -32022 (unsupported protocol version) and the versions served.
GET (no server-to-client stream is offered) and DELETE (no transport session to end) are 405.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    PROTOCOL_VERSION_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from envcore.errors import InvalidJSON, ValidationError
from envcore.strict_json import strict_loads
from episodes.mcp import SUPPORTED_VERSIONS, McpContext, error_message, handle_message, is_notification
from episodes.sessions import Caller

VERSION_HEADER = "mcp-protocol-version"
METHOD_HEADER = "mcp-method"
NAME_HEADER = "mcp-name"
NAME_PARAMS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
# The SDK's HTTP status of each JSON-RPC error code in the 2026-07-28 era (others: 200).
MODERN_STATUS = {PARSE_ERROR: 400, INVALID_REQUEST: 400, INVALID_PARAMS: 400, HEADER_MISMATCH: 400,
                 UNSUPPORTED_PROTOCOL_VERSION: 400, METHOD_NOT_FOUND: 404}


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)


def mcp_http_answer(raw: bytes, headers: Mapping[str, str], caller: Caller) -> HttpAnswer:
    """The answer to one ``POST /mcp`` body (already inflated); ``headers`` by lowercase name."""
    version = headers.get(VERSION_HEADER)
    if version is not None and version not in SUPPORTED_VERSIONS:
        return HttpAnswer(400, error_message(None, UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version",
                                             {"supported": list(SUPPORTED_VERSIONS), "requested": version}))
    modern = version in MODERN_PROTOCOL_VERSIONS
    try:
        message = strict_loads(raw, what="body") if raw.strip() else {}
    except InvalidJSON as exc:
        return _answer(error_message(None, PARSE_ERROR, f"Parse error: {exc.message}"), modern)
    except ValidationError as exc:  # JSON, but with a value no tool can take (a NUL...)
        return _answer(error_message(None, INVALID_PARAMS, f"Invalid params: {exc.message}"), modern)
    if is_notification(message) or _is_response(message):
        return HttpAnswer(202, None)
    if modern and isinstance(message, dict) and isinstance(message.get("method"), str):
        mismatch = _envelope_problem(message, headers)
        if mismatch is not None:
            code, text = mismatch
            return _answer(error_message(message.get("id"), code, text), modern)
    return _answer(handle_message(message, McpContext(caller, modern=modern)), modern)


def _answer(body: dict[str, Any] | None, modern: bool) -> HttpAnswer:
    status = MODERN_STATUS.get(body["error"]["code"], 200) if modern and body and "error" in body else 200
    return HttpAnswer(status, body)


def _is_response(message: Any) -> bool:
    """A client's answer to a server request (this server sends none): acknowledged, as the spec asks."""
    return (isinstance(message, dict) and message.get("jsonrpc") == "2.0" and "id" in message
            and "method" not in message and ("result" in message or "error" in message))


def _envelope_problem(message: dict[str, Any], headers: Mapping[str, str]) -> tuple[int, str] | None:
    """What is wrong with a 2026-07-28 request's envelope and routing headers (the SDK's ladder)."""
    params = message.get("params")
    if not isinstance(params, dict):
        params = {}  # so no _meta: the answer below
    meta = params.get("_meta")
    if not isinstance(meta, dict):
        return INVALID_PARAMS, (f"params._meta must be an object carrying the required {PROTOCOL_VERSION_META_KEY!r} "
                                f"and {CLIENT_CAPABILITIES_META_KEY!r} envelope keys")
    missing = [key for key in (PROTOCOL_VERSION_META_KEY, CLIENT_CAPABILITIES_META_KEY) if key not in meta]
    if missing:
        return INVALID_PARAMS, f"params._meta is missing the required envelope key(s): {', '.join(missing)}"
    if headers.get(VERSION_HEADER) != meta[PROTOCOL_VERSION_META_KEY]:
        return HEADER_MISMATCH, f"{VERSION_HEADER} header does not match the request envelope's protocol version"
    if headers.get(METHOD_HEADER) != message["method"]:
        return HEADER_MISMATCH, f"{METHOD_HEADER} header does not match the request body's method"
    name_key = NAME_PARAMS.get(message["method"])
    if name_key is not None and params.get(name_key) is not None \
            and _decode_header(headers.get(NAME_HEADER)) != params[name_key]:
        return HEADER_MISMATCH, f"{NAME_HEADER} header does not match the request body's {name_key!r} parameter"
    return None


def _decode_header(value: str | None) -> str | None:
    """A header value as the SDK encodes it: verbatim, or ``=?base64?...?=`` around UTF-8."""
    if value is None or not (value.startswith("=?base64?") and value.endswith("?=")):
        return value
    payload = value[len("=?base64?"):-2]
    try:
        decoded = base64.b64decode(payload, validate=True)
        return decoded.decode("utf-8") if base64.b64encode(decoded).decode("ascii") == payload else None
    except (binascii.Error, UnicodeDecodeError):
        return None


