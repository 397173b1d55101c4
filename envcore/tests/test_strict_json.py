"""The one JSON parser: strict, bounded, and every refusal names where it is."""

from __future__ import annotations

import pytest

from envcore.errors import InvalidJSON, ValidationError
from envcore.strict_json import MAX_DEPTH, strict_loads


@pytest.mark.parametrize(("raw", "field", "cls", "word"), [
    (b'{"seed": NaN}', "seed", InvalidJSON, "NaN"),
    (b'{"seed": Infinity}', "seed", InvalidJSON, "Infinity"),
    (b'{"a": {"b": -Infinity}}', "a.b", InvalidJSON, "-Infinity"),
    (b'{"timeout_s": 1e400}', "timeout_s", ValidationError, "too large"),
    (b'{"n": [1, ' + b"9" * 400 + b".0]}", "n.1", ValidationError, "too large"),
    (b'{"action": {"rationale": "\\ud800"}}', "action.rationale", InvalidJSON, "surrogate"),
    (b'{"x": "\\udc00 after"}', "x", InvalidJSON, "surrogate"),
    (b'{"a": [1, {"b": "x\\u0000"}]}', "a.1.b", ValidationError, "NUL"),
    (b'{"k\\u0000": 1}', "k\x00", ValidationError, "NUL"),
    (b'{"seed": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "seed.0.0.0.0.0.0.0", InvalidJSON, "deeper"),
    (b'{"a": 1,}', None, InvalidJSON, "alformed"),
    (b'{"a": 1} trailing', None, InvalidJSON, "trailing"),
    (b"\xff\xfe", None, InvalidJSON, "UTF-8"),
    ("{\"k\": \"\ud800\"}", None, InvalidJSON, "surrogate"),
])
def test_it_refuses_what_is_not_strict_json_naming_the_place(raw, field, cls, word) -> None:
    with pytest.raises(cls) as raised:
        strict_loads(raw)

    assert type(raised.value) is cls
    assert raised.value.field == field
    assert word in raised.value.message
    assert ".".join(str(part) for part in raised.value.errors[0]["loc"]) == (field or "")


def test_a_nesting_at_the_limit_parses_and_a_level_more_does_not() -> None:
    assert strict_loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    with pytest.raises(InvalidJSON):
        strict_loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_what_looks_like_a_nul_or_a_huge_number_but_is_not_parses() -> None:
    assert strict_loads(b'{"a": "\\\\u0000", "b": 1e308, "c": 2e-999}') == {"a": "\\u0000", "b": 1e308, "c": 0.0}
