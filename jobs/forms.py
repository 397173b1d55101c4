"""The job form on the pages, generated from the kind's parameter serializer (jobs.params), so
the page, the API and the admin accept exactly the same parameters with the same messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import fields as drf_fields

from jobs.kinds import KINDS
from jobs.params import AgentField, CatalogField, catalog_names
from jobs.selectors import agent_options


@dataclass
class FormField:
    name: str
    label: str
    help_text: str
    value: str
    choices: list[str] | None
    error: str = ""
    # A picker's options ({value, label, group, task, catalog}): the agent field of evaluations.
    options: list[dict[str, str]] | None = None


def _display(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None or value is drf_fields.empty else str(value)


def form_fields(kind: str, data: dict[str, Any] | None = None, errors: dict[str, str] | None = None) -> list[FormField]:
    serializer = KINDS[kind].serializer()
    out = []
    for name, f in serializer.fields.items():
        default = f.default if f.default is not drf_fields.empty else ""
        value = (data or {}).get(name, _display(default() if callable(default) else default))
        choices = list(f.choices) if isinstance(f, drf_fields.ChoiceField) else None
        if isinstance(f, CatalogField):
            choices = catalog_names()
        options = None
        if isinstance(f, AgentField):
            options = agent_options()
            if value and value not in {o["value"] for o in options}:  # typed or from the API: kept
                options.append({"value": str(value), "label": str(value), "group": "Other", "task": "", "catalog": ""})
        out.append(FormField(name, name.replace("_", " "), str(f.help_text or ""), str(value), choices,
                             (errors or {}).get(name, ""), options))
    return out


def params_from_post(kind: str, post: Any) -> dict[str, Any]:
    """Form strings → the JSON the serializer expects: blanks mean "the default"; a list field
    takes comma-separated values."""
    serializer = KINDS[kind].serializer()
    params: dict[str, Any] = {}
    for name, f in serializer.fields.items():
        raw = post.get(name)
        if raw is None or raw.strip() == "":
            continue
        raw = raw.strip()
        params[name] = [part.strip() for part in raw.split(",") if part.strip()] if isinstance(f, drf_fields.ListField) else raw
    return params
