"""Parsing of OpenEnv request bodies (shared by REST, WebSocket and MCP), before any look-up."""

from __future__ import annotations

import json
from typing import Any, Mapping

from envcore.errors import ValidationError

RESET_FIELDS = ("seed", "episode_id", "task_id", "patient_id", "catalog", "durability")
STEP_FIELDS = ("action", "episode_id", "timeout_s", "request_id")


def parse_json_object(raw: bytes | str, *, what: str = "body") -> dict[str, Any]:
    """A JSON object from raw bytes; an empty body is an empty object."""
    if not raw or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"Malformed JSON in the request {what}: {exc}", field=None) from exc
    if not isinstance(data, dict):
        raise ValidationError(f"The request {what} must be a JSON object, got {type(data).__name__}.", field=None)
    return data


def reject_nul(value: Any, field: str = "") -> None:
    """Refuse a NUL character anywhere in a request value, naming the field.

    PostgreSQL can store NUL in neither text nor jsonb: let through, it would fail the step's
    write (a 500) after the environment had already stepped."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError(f"{field or 'The body'} must not contain a NUL character.", field=field or None)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            reject_nul(key, field)
            reject_nul(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for item in value:
            reject_nul(item, field)


def _reject_unknown(data: Mapping[str, Any], allowed: tuple[str, ...], where: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise ValidationError(
                f"Unknown field {key!r}; expected some of {', '.join(allowed)}.", field=f"{where}{key}"
            )


def _optional_string(data: Mapping[str, Any], key: str, limit: int = 255) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValidationError(f"{key} must be a non-empty string of at most {limit} characters.", field=key)
    return value


def parse_reset(data: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``episode_reset``. Types are checked here; values by the services."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"The reset request must be a JSON object, got {type(data).__name__}.", field=None)
    _reject_unknown(data, RESET_FIELDS)
    reject_nul(data)
    kwargs = {key: data.get(key) for key in RESET_FIELDS}
    for key in ("episode_id", "task_id", "patient_id", "catalog", "durability"):
        kwargs[key] = _optional_string(data, key)
    return kwargs


def parse_step(data: Mapping[str, Any]) -> tuple[Any, str | None]:
    """(action, episode_id) of a step body; the action itself is validated by envcore."""
    _reject_unknown(data, STEP_FIELDS)
    reject_nul(data)
    if "action" not in data or data["action"] is None:
        raise ValidationError("action is required: an object with an action_type.", field="action")
    timeout = data.get("timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ValidationError("timeout_s must be a positive number.", field="timeout_s")
    _optional_string(data, "request_id")
    return data["action"], _optional_string(data, "episode_id")


def parse_state(params: Mapping[str, Any]) -> str | None:
    """The episode_id of a ``GET /state`` query (other query parameters are ignored)."""
    reject_nul(params.get("episode_id"), "episode_id")
    return _optional_string(params, "episode_id")
