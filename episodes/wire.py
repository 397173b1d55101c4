"""Request bodies at the edge of every JSON view: read once, inflated when gzip'd (bounded),
parsed strictly (``envcore.strict_json``) and validated against a contract model before any
look-up. The size of what arrives is bounded earlier, while it is read
(``polypharmacy_site.edge``); here only the inflated size is.
"""

from __future__ import annotations

import zlib
from typing import Any, TypeVar

from envcore.contract import validate
from envcore.errors import PayloadTooLarge, UnsupportedMediaType, ValidationError
from envcore.strict_json import strict_loads

MAX_INFLATED_BYTES = 16 * 1024 * 1024  # a gzip body may inflate to this much, no more
T = TypeVar("T")


def inflate(raw: bytes, content_encoding: str) -> bytes:
    """The body as sent, inflated when its Content-Encoding is gzip (or deflate)."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "deflate"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or none.")
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib, by its header
    try:
        body = inflater.decompress(raw, MAX_INFLATED_BYTES + 1)
    except zlib.error as exc:
        raise ValidationError(f"Malformed {encoding} body: {exc}.", kind="json_invalid") from None
    if len(body) > MAX_INFLATED_BYTES or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"The {encoding} body inflates beyond {MAX_INFLATED_BYTES:,} bytes.")
    return body


def body_json(request: Any) -> Any:
    """The request's JSON body; an empty body is ``{}``."""
    raw = inflate(request.body, request.headers.get("Content-Encoding", ""))
    if not raw.strip():
        return {}
    return strict_loads(raw)


def body_object(request: Any) -> dict[str, Any]:
    """The request's body, which must be a JSON object."""
    data = body_json(request)
    if not isinstance(data, dict):
        raise ValidationError(f"The request body must be a JSON object, got {_kind(data)}.", kind="dict_type")
    return data


def body_model(request: Any, model: type[T]) -> T:
    """The body validated by a contract model (its errors name the fields)."""
    return validate(model, body_object(request))


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
