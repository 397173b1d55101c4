"""The job form on the pages, generated from the kind's parameter serializer (jobs.params), so
the page, the API and the admin accept exactly the same parameters with the same messages.

How a field is drawn is the field's own business, declared on the serializer field rather than
in the template: DRF's ``style`` dict says the widget (``{"widget": "textarea", "rows": 6, "placeholder": …}``),
and a field class may offer ``form_options()`` (a picker's options) and ``form_completions()``
(suggestions while typing, e.g. drug names). Without any, a choice field is a select and the
rest one-line inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import fields as drf_fields

from jobs.kinds import KINDS
from jobs.params import CatalogField, catalog_names

WIDGETS = ("input", "select", "picker", "textarea")


@dataclass
class FormField:
    name: str
    label: str
    help_text: str
    value: str
    choices: list[str] | None
    error: str = ""
    # A picker's options ({value, label, group} and data-* attributes such as task, catalog).
    options: list[dict[str, str]] | None = None
    widget: str = "input"
    rows: int = 0  # a textarea's height in lines
    css_class: str = ""
    placeholder: str = ""  # shown in an empty field, which then means the default
    # Suggestions while typing ({value, label, catalog}); ``completions_follow`` names the picker
    # whose chosen option's catalog selects which of them apply (jobs/static/jobs/completion.js).
    completions: list[dict[str, str]] | None = None
    completions_follow: str = ""


def _display(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None or value is drf_fields.empty else str(value)


def _widget(f: drf_fields.Field, choices: list[str] | None, options: list[dict[str, str]] | None) -> str:
    widget = f.style.get("widget")
    if widget in WIDGETS:
        return str(widget)
    return "picker" if options is not None else "select" if choices else "input"


def form_fields(kind: str, data: dict[str, Any] | None = None, errors: dict[str, str] | None = None) -> list[FormField]:
    serializer = KINDS[kind].serializer()
    out = []
    for name, f in serializer.fields.items():
        default = f.default if f.default is not drf_fields.empty else ""
        placeholder = str(f.style.get("placeholder", ""))
        # A field with a placeholder starts empty (blank means the default; the placeholder says it).
        initial = "" if placeholder else _display(default() if callable(default) else default)
        value = (data or {}).get(name, initial)
        choices = list(f.choices) if isinstance(f, drf_fields.ChoiceField) else None
        if isinstance(f, CatalogField):
            choices = catalog_names()
        options = f.form_options() if hasattr(f, "form_options") else None
        if options is not None and value and value not in {o["value"] for o in options}:
            # Typed, from the API or a copied job: kept, so the form does not change it silently.
            options.append({"value": str(value), "label": str(value), "group": "Other"})
        out.append(FormField(
            name, name.replace("_", " "), str(f.help_text or ""), str(value), choices, (errors or {}).get(name, ""),
            options, widget=_widget(f, choices, options), rows=int(f.style.get("rows", 0)),
            css_class=str(f.style.get("class", "")), placeholder=placeholder,
            completions=f.form_completions() if hasattr(f, "form_completions") else None,
            completions_follow=str(f.style.get("completions_follow", ""))))
    return out


def params_from_post(kind: str, post: Any) -> dict[str, Any]:
    """Form strings → the JSON the serializer expects: blanks mean "the default"; a list field
    takes comma-separated values; a textarea's text goes as it is (its field parses the lines)."""
    serializer = KINDS[kind].serializer()
    params: dict[str, Any] = {}
    for name, f in serializer.fields.items():
        raw = post.get(name)
        if raw is None or raw.strip() == "":
            continue
        raw = raw.strip()
        if isinstance(f, drf_fields.ListField) and f.style.get("widget") != "textarea":
            params[name] = [part.strip() for part in raw.split(",") if part.strip()]
        else:
            params[name] = raw
    return params
