"""Strict JSON: the one parser for every body and frame that reaches the site (DESIGN §4).

``strict_loads`` refuses what Python's ``json`` lets through and a database or a client would
choke on later: NaN and Infinity (not JSON), numbers too large for a float (1e400 would become
inf), lone surrogates (``"\\ud800"``: not Unicode, and PostgreSQL refuses them), NUL characters
(PostgreSQL stores none) and nesting deeper than ``MAX_DEPTH``. It parses with pydantic-core's
Rust parser, so a good body costs about a microsecond and a 100,000-deep one fails at level
``MAX_DEPTH`` without recursing. Every refusal is an ``InvalidJSON`` whose ``field`` names the
place in the document (``action.rationale``), found by re-reading the text up to the error.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pydantic_core

from envcore.errors import InvalidJSON, ValidationError

# pydantic-core's parser stops beyond this depth (it is not configurable); no request here needs
# more than a handful of levels.
MAX_DEPTH = 201
# Only a number with a 3-digit exponent or 309+ digits can overflow a float: look for one
# before walking the document for infinities.
_MAYBE_HUGE = re.compile(r"[0-9.][eE]\+?0*[1-9][0-9]{2}|[0-9]{309}")
_MAYBE_HUGE_BYTES = re.compile(_MAYBE_HUGE.pattern.encode())
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]')
_POSITION = re.compile(r"at line (\d+) column (\d+)")
_MAX_LOC = 8  # a path through deep nesting is cut after this many steps


def strict_loads(raw: bytes | str, *, what: str = "body") -> Any:
    """The JSON value of ``raw``: ``InvalidJSON`` (not JSON) or ``ValidationError`` (a NUL, an
    overflowing number), naming the field, for anything not strict."""
    try:
        value = pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise _parse_error(raw, str(exc), what) from None
    except TypeError:  # a str holding a lone surrogate cannot even be encoded
        raise _error([], "a lone surrogate (\\ud800-\\udfff) is not valid Unicode text.", "json_invalid") from None
    as_bytes = isinstance(raw, (bytes, bytearray))
    if (b"\\u0000" in raw) if as_bytes else ("\\u0000" in raw):
        path = _find(value, lambda v: isinstance(v, str) and "\x00" in v)
        if path is not None:
            raise _error(path, "a NUL character (\\u0000) is not allowed in text.", "string_nul", ValidationError)
    if _maybe_huge(raw, as_bytes):
        path = _find(value, lambda v: isinstance(v, float) and math.isinf(v))
        if path is not None:
            raise _error(path, "a number too large for a float is not allowed; send a finite number.",
                         "finite_number", ValidationError)
    return value


_SCAN_CHUNK = 64 * 1024
_NUMBER_CHARS = frozenset("0123456789eE+-.")
_NUMBER_BYTES = frozenset(b"0123456789eE+-.")


def _maybe_huge(raw: bytes | bytearray | str, as_bytes: bool) -> bool:
    """Does ``raw`` hold a number that may overflow? Searched a piece at a time, each piece
    ending where no number goes on (a match is made of number characters only, so none is cut
    in two): one search over a 1.5 MB body held the GIL for 40 ms, a stall for every other
    request of the process."""
    pattern: Any = _MAYBE_HUGE_BYTES if as_bytes else _MAYBE_HUGE
    number: frozenset[Any] = _NUMBER_BYTES if as_bytes else _NUMBER_CHARS
    start, size = 0, len(raw)
    while start < size:
        end = min(start + _SCAN_CHUNK, size)
        while end < size and raw[end] in number:
            end += 1
        if pattern.search(raw, start, end):
            return True
        start = end
    return False


def _error(path: list[Any], message: str, kind: str, cls: type[ValidationError] = InvalidJSON) -> ValidationError:
    """Not JSON at all is ``InvalidJSON``; JSON we refuse (a NUL, an overflowing number) is a
    plain ``ValidationError``, as a wrong value anywhere else is."""
    field = ".".join(str(p) for p in path) or None
    text = f"{field}: {message}" if field else message[0].upper() + message[1:]
    return cls(text, field, errors=[{"type": kind, "loc": list(path), "msg": text, "input": None}])


def _parse_error(raw: bytes | str, reason: str, what: str) -> ValidationError:
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _error([], f"the request {what} is not UTF-8 text.", "json_invalid")
    else:
        text = raw
    offset = _offset(text, reason)
    path = _path_at(text, offset) if offset is not None else []
    at = text[offset:offset + 10] if offset is not None else ""
    if offset and text[offset - 1] == "-":
        at = "-" + at
    if "recursion limit" in reason:
        message = f"JSON nested deeper than {MAX_DEPTH} levels is not accepted."
        path = path[:_MAX_LOC]
    elif at.startswith(("NaN", "Infinity", "-Infinity")):
        literal = re.match(r"-?[A-Za-z]+", at)
        message = f"{literal.group() if literal else 'NaN'} is not valid JSON; send a finite number or null."
    elif "surrogate" in reason or "hex escape" in reason:
        message = "a lone surrogate (\\ud800-\\udfff) is not valid Unicode text."
    elif not text.strip():
        message = f"the request {what} is empty."
    else:
        message = f"malformed JSON in the request {what}: {reason}."
    return _error(path, message, "json_invalid")


def _offset(text: str, reason: str) -> int | None:
    """The character offset of pydantic-core's "at line L column C"."""
    found = _POSITION.search(reason)
    if found is None:
        return None
    line, column = int(found.group(1)), int(found.group(2))
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
    return max(0, min(len(text), start + column - 1))


def _path_at(text: str, offset: int) -> list[Any]:
    """The keys and indices of the value being read at ``offset`` (from the tokens before it)."""
    stack: list[list[Any]] = []  # [kind, key or index, expecting a key]
    for match in _TOKEN.finditer(text, 0, offset):
        token = match.group()
        if token == "{":
            stack.append(["object", None, True])
        elif token == "[":
            stack.append(["array", 0, False])
        elif token in "}]":
            if stack:
                stack.pop()
        elif not stack:
            continue
        elif token == ",":
            top = stack[-1]
            if top[0] == "array":
                top[1] += 1
            else:  # between members: no key is being read
                top[1], top[2] = None, True
        elif token == ":":
            stack[-1][2] = False
        elif stack[-1][0] == "object" and stack[-1][2]:
            try:
                stack[-1][1] = json.loads(token)
            except ValueError:
                stack[-1][1] = token[1:-1]
        if len(stack) > _MAX_LOC + 1:
            break
    return [entry[1] for entry in stack[:_MAX_LOC] if entry[1] is not None]


def _find(value: Any, bad: Any) -> list[Any] | None:
    """The path to the first value (or object key) for which ``bad`` holds, else None."""
    pending: list[tuple[Any, list[Any]]] = [(value, [])]
    while pending:
        item, path = pending.pop()
        if bad(item):
            return path
        if isinstance(item, dict):
            for key, child in item.items():
                if bad(key):
                    return path + [key]
                pending.append((child, path + [key]))
        elif isinstance(item, list):
            pending.extend((child, path + [i]) for i, child in enumerate(item))
    return None
