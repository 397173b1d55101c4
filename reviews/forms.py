"""Forms of the review pages. Field names are the action's field names, so an environment
refusal ``(field, message)`` lands at the field it concerns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from catalog.models import TASK_IDS
from agents.policies import RULE_BASED
from agents.registry import policy_agent
from envcore.contract import INTERVENTION_TYPES, MAX_ID_LENGTH, MAX_RATIONALE_LENGTH
from envcore.catalog import CATALOG_NAMES
from envcore.errors import ValidationError
from reviews.models import AuditRecord, ReviewSession

TASK_CHOICES = [(t, t.replace("_", " ")) for t in TASK_IDS]


class PatientFilterForm(forms.Form):
    catalog = forms.ChoiceField(choices=[(c, c) for c in CATALOG_NAMES], initial="curated", required=False)
    q = forms.CharField(label="Search", max_length=64, required=False)
    task = forms.ChoiceField(choices=[("", "any task"), *TASK_CHOICES], required=False)
    condition = forms.ChoiceField(choices=[("", "any condition")], required=False)
    min_drugs = forms.IntegerField(label="drugs ≥", min_value=0, max_value=50, required=False)
    max_drugs = forms.IntegerField(label="drugs ≤", min_value=0, max_value=50, required=False)
    min_risk = forms.FloatField(label="risk ≥", min_value=0, max_value=1, required=False)
    max_risk = forms.FloatField(label="risk ≤", min_value=0, max_value=1, required=False)

    def __init__(self, *args: Any, conditions: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        condition = self.fields["condition"]
        assert isinstance(condition, forms.ChoiceField)
        condition.choices = [("", "any condition"), *[(c, c) for c in conditions]]


class StartSessionForm(forms.Form):
    catalog = forms.ChoiceField(choices=[(c, c) for c in CATALOG_NAMES])
    patient_id = forms.CharField(max_length=64)
    task_id = forms.ChoiceField(choices=TASK_CHOICES)


def at_step_field() -> forms.IntegerField:
    """The step the page was at when it showed the form (the template writes it, hidden): the
    services refuse a form whose step has already been taken, so a double submit acts once."""
    message = "This form does not say which step of the review it was shown at; reload the page."
    return forms.IntegerField(min_value=0, widget=forms.HiddenInput,
                              error_messages={"required": message, "invalid": message, "min_value": message})


def _drug_select(choices: list[tuple[str, str]]) -> forms.Select:
    return forms.Select(choices=[("", "—"), *choices])


class QueryForm(forms.Form):
    # Plain text fields behind a select: whether a drug is in the regimen is the environment's
    # call (``refusal``), so the message is the same one an API client would get.
    drug_id_1 = forms.CharField(label="Drug 1", max_length=MAX_ID_LENGTH)
    drug_id_2 = forms.CharField(label="Drug 2", max_length=MAX_ID_LENGTH)
    # A pair already asked (in either order) is refused unless this is ticked: asking again
    # spends a query and earns nothing (the page's script warns as soon as the pair is chosen).
    repeat = forms.BooleanField(label="Ask again anyway", required=False)
    at_step = at_step_field()

    def __init__(self, *args: Any, regimen: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("drug_id_1", "drug_id_2"):
            self.fields[name].widget = _drug_select(list(regimen))

    def action(self) -> dict[str, Any]:
        return {"action_type": "query_ddi", "drug_id_1": self.cleaned_data["drug_id_1"],
                "drug_id_2": self.cleaned_data["drug_id_2"]}


class InterventionForm(forms.Form):
    target_drug_id = forms.CharField(label="Drug", max_length=MAX_ID_LENGTH)
    intervention_type = forms.ChoiceField(label="Intervention", choices=[(t, t.replace("_", " ")) for t in INTERVENTION_TYPES])
    proposed_new_drug_id = forms.CharField(label="Substitute", max_length=MAX_ID_LENGTH, required=False)
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=MAX_RATIONALE_LENGTH, required=False)
    at_step = at_step_field()

    def __init__(self, *args: Any, regimen: Sequence[tuple[str, str]] = (),
                 substitutes: Sequence[tuple[str, list[tuple[str, str]]]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target_drug_id"].widget = _drug_select(list(regimen))
        # Options grouped by the drug they may replace (the page's script hides the others).
        self.fields["proposed_new_drug_id"].widget = forms.Select(
            choices=[("", "the safest of the class (environment's choice)"), *substitutes],
            attrs={"data-substitutes": "1"},
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean returns
        if data.get("proposed_new_drug_id") and data.get("intervention_type") != "substitute":
            self.add_error("proposed_new_drug_id", "A substitute only goes with the intervention 'substitute'.")
        return data

    def action(self) -> dict[str, Any]:
        data = self.cleaned_data
        action = {
            "action_type": "propose_intervention",
            "target_drug_id": data["target_drug_id"],
            "intervention_type": data["intervention_type"],
        }
        if data.get("proposed_new_drug_id"):
            action["proposed_new_drug_id"] = data["proposed_new_drug_id"]
        if data.get("rationale"):
            action["rationale"] = data["rationale"]
        return action


class _OptionsSelect(forms.Select):
    """A select whose listed values are shown but cannot be chosen (``disabled``)."""

    def __init__(self, *args: Any, disabled_values: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disabled_values = disabled_values

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        if value in self.disabled_values:
            option["attrs"]["disabled"] = True
        return option


class SuggestForm(forms.Form):
    """Which suggester answers. "llm" stays a valid choice when no endpoint is configured (it
    falls back to the rule-based suggester, with the reason); the page only greys it out."""

    suggester = forms.ChoiceField(label="Suggester", required=False)
    at_step = at_step_field()

    def __init__(self, *args: Any, llm_model: str | None = None, policies: list[tuple[str, str]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["suggester"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (RULE_BASED, "Rule-based"),
            ("llm", f"LLM ({llm_model})" if llm_model else "LLM not configured"),
            # Trained policy checkpoints (jobs): "policy:<name>", labelled with their task.
            *[(policy_agent(name), f"Trained policy {name} ({label})") for name, label in (policies or [])],
        ]
        field.widget = _OptionsSelect(
            choices=field.choices, disabled_values=frozenset() if llm_model else frozenset({"llm"}),
        )

    def clean_suggester(self) -> str:
        return self.cleaned_data.get("suggester") or RULE_BASED


def confirmed_field() -> forms.BooleanField:
    """Finishing ends the review for good: the page asks first (a dialog, or without script a
    confirmation step), and the form says it did."""
    return forms.BooleanField(required=False)


class FinishForm(forms.Form):
    at_step = at_step_field()
    confirmed = confirmed_field()


class SuggestionAnswerForm(forms.Form):
    suggestion_id = forms.IntegerField(min_value=1)
    decision = forms.ChoiceField(choices=[("accept", "accept"), ("ignore", "ignore")])
    confirmed = confirmed_field()  # accepting a "finish" suggestion finishes


class StepCommentForm(forms.Form):
    index = forms.IntegerField(min_value=1)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class SessionFilterForm(forms.Form):
    """/reviews/'s filters, from the query string."""

    pharmacist = forms.CharField(label="Pharmacist", max_length=150, required=False)
    patient = forms.CharField(label="Patient", max_length=64, required=False)
    task = forms.ChoiceField(label="Task", choices=[("", "any task"), *TASK_CHOICES], required=False)
    status = forms.ChoiceField(label="Status", choices=[("", "any status"), *ReviewSession.Status.choices],
                               required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    min_score = forms.FloatField(label="score ≥", min_value=0, max_value=1, required=False)
    max_score = forms.FloatField(label="score ≤", min_value=0, max_value=1, required=False)

    def __init__(self, *args: Any, supervisor: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not supervisor:  # a pharmacist sees only their own sessions
            del self.fields["pharmacist"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean returns
        for low, high, what in (("min_score", "max_score", "score"), ("since", "until", "date")):
            if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
                self.add_error(high, f"The highest {what} is below the lowest.")
        return data


class SignOffForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "approve"), ("return", "return")], widget=forms.RadioSelect)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=4000, required=False)


class AuditFilterForm(forms.Form):
    actor = forms.CharField(max_length=150, required=False, help_text="the start of a name, any case")
    action = forms.ChoiceField(choices=[("", "any action"), *AuditRecord.Action.choices], required=False)
    session = forms.IntegerField(min_value=1, required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


OUTCOMES = ("pending", "approved", "returned")  # the sign-off, as /research/ shows it


def _choice(label: str, values: tuple[str, ...], blank: str) -> forms.ChoiceField:
    """An optional choice whose refusal names the allowed values (Django's does not)."""
    allowed = ", ".join(values)
    return forms.ChoiceField(label=label, required=False, choices=[("", blank), *[(v, v.replace("_", " ")) for v in values]],
                             error_messages={"invalid_choice": f"Choose one of {allowed} (not %(value)s)."})


def _score(label: str) -> forms.FloatField:
    message = "Enter a score from 0 to 1."
    return forms.FloatField(label=label, min_value=0, max_value=1, required=False,
                            error_messages={"invalid": message, "min_value": message, "max_value": message})


class ResearchFilterForm(forms.Form):
    """/research/'s filters, from the query string (so a filtered view is a link)."""

    catalog = _choice("Catalog", CATALOG_NAMES, "any catalog")
    task = _choice("Task", TASK_IDS, "any task")
    outcome = _choice("Sign-off", OUTCOMES, "any sign-off")
    min_score = _score("score ≥")
    max_score = _score("score ≤")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean returns
        low, high = data.get("min_score"), data.get("max_score")
        if low is not None and high is not None and low > high:
            self.add_error("max_score", f"The highest score ({high:g}) is below the lowest ({low:g}).")
        return data

    def error_text(self) -> str:
        """Every field's errors in one line."""
        return " ".join(f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in self.errors.items())

    def validation_error(self) -> ValidationError:
        """The refused filters as the API's 422 (``episodes.errors.error_body``), one item per
        field, located in the query: the downloads' answer, since a script asked for a file."""
        items = [{"type": "value_error", "loc": [name], "msg": f"{name}: {' '.join(str(e) for e in errors)}",
                  "input": self.data.get(name)} for name, errors in self.errors.items()]
        return ValidationError(self.error_text(), errors=items, where="query")
