"""Parameters of each job kind, as DRF serializers: one definition serves the REST API, the job
form on the pages and the admin, and every error names its field (``params.<field>``).

Defaults are filled in, so a job row records exactly what ran."""

from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers

from agents.registry import SITE_AGENT_HELP, builtin_agent, policy_checkpoint
from catalog.models import CatalogSource
from envcore.contract import MAX_KEY_LENGTH
from envcore.scenarios import TASKS
from episodes.models import Episode
from jobs.models import Checkpoint

TASK_CHOICES = list(TASKS)


def catalog_names() -> list[str]:
    return list(CatalogSource.objects.order_by("name").values_list("name", flat=True))


class CatalogField(serializers.CharField):
    """A catalog loaded in this database."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        names = catalog_names()
        if value not in names:
            raise serializers.ValidationError(f"Unknown catalog {value!r}; expected one of {', '.join(names) or '(none loaded)'}.")
        return value


class AgentField(serializers.CharField):
    """An agent spec; a ``policy:<name>`` must name an existing policy checkpoint. On the form, a
    picker of the built-in agents and the trained policies (choosing one brings its task and
    catalog: jobs.js)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("style", {"widget": "picker", "class": "agent-picker"})
        super().__init__(**kwargs)

    def form_options(self) -> list[dict[str, str]]:
        from jobs.selectors import agent_options

        return agent_options()

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip()
        try:
            if builtin_agent(value):
                return value
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        name = policy_checkpoint(value)
        if name is not None:
            if not Checkpoint.objects.filter(name=name, kind=Checkpoint.Kind.POLICY).exists():
                raise serializers.ValidationError(f"No policy checkpoint named {name!r}.")
            return value
        raise serializers.ValidationError(f"Unknown agent {value!r}; expected {SITE_AGENT_HELP}.")


class FiniteFloatField(serializers.FloatField):
    """A float that is a number: DRF's FloatField takes "NaN" and "inf" from a form (the JSON
    layer refuses them only in a JSON body), and NaN passes any min/max, then fails the
    database's JSON check as a 500."""

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            raise serializers.ValidationError(f"A finite number is required, got {data!r}.")
        return value


class StrictSerializer(serializers.Serializer):
    """Unknown parameters are refused, so a typo is never silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown parameter."] for name in unknown})
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # DRF does not run a field's validation on its default: check defaulted catalogs here.
        for name, field in self.fields.items():
            if isinstance(field, CatalogField) and attrs.get(name) is not None and name not in self.initial_data:
                try:
                    field.to_internal_value(attrs[name])
                except serializers.ValidationError as exc:
                    raise serializers.ValidationError({name: exc.detail}) from None
        return attrs


class TrainPolicyParams(StrictSerializer):
    algorithm = serializers.ChoiceField(["ppo", "reinforce"], default="ppo",
                                        help_text="PPO with action masking, or REINFORCE with a learned baseline.")
    task_id = serializers.ChoiceField(TASK_CHOICES + ["all"], default="easy_screening")
    catalog = CatalogField(default="curated")
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    total_steps = serializers.IntegerField(min_value=1024, max_value=20_000_000, default=200_000)
    n_envs = serializers.IntegerField(min_value=1, max_value=256, default=16)
    lr = FiniteFloatField(min_value=1e-6, max_value=1.0, default=3e-4)
    ent_coef = FiniteFloatField(min_value=0.0, max_value=1.0, default=0.01)
    arch = serializers.ChoiceField(["mlp", "pairwise"], default="mlp",
                                   help_text="mlp: layers over the adapter's vector. pairwise: drug and pair tokens "
                                             "with an interaction memory learned from queries (the README's headline "
                                             "learner; give hidden [64]: its first size is the token width).")
    hidden = serializers.ListField(child=serializers.IntegerField(min_value=4, max_value=2048), min_length=1,
                                   max_length=4, default=[256, 256], help_text="Hidden layer sizes, e.g. [256, 256].")
    eval_every = serializers.IntegerField(min_value=0, max_value=10_000, default=20,
                                          help_text="Updates between validation evaluations (0: never).")
    test_episodes = serializers.IntegerField(min_value=0, max_value=10_000, default=100,
                                             help_text="Greedy test episodes on seeds 10000… at the end.")
    checkpoint_name = serializers.SlugField(max_length=100, required=False, allow_blank=True, default="",
                                            help_text="Name of the checkpoint (default: <task>-<catalog>-s<seed>-job<id>).")

    def validate_hidden(self, value: Any) -> list[int]:
        return [int(v) for v in value]

    def validate_checkpoint_name(self, value: str) -> str:
        from jobs.models import Checkpoint

        if value and Checkpoint.objects.filter(name=value).exists():
            raise serializers.ValidationError(f"A checkpoint named {value!r} exists already.")
        return value


class EvaluateParams(StrictSerializer):
    agent = AgentField(default="heuristic", help_text=SITE_AGENT_HELP + "; a policy brings its own task and catalog "
                       "unless they are given")
    # The same default task as training's, so an easy-task policy is not evaluated on the
    # budgeted task by accident.
    task_id = serializers.ChoiceField(TASK_CHOICES, default="easy_screening")
    catalog = CatalogField(default="curated")
    seed_start = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=10000)
    episodes = serializers.IntegerField(min_value=1, max_value=10_000, default=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A trained policy is evaluated where it was trained unless the request says otherwise
        # (a task and a catalog given explicitly are kept, for transfer experiments).
        name = policy_checkpoint(attrs.get("agent", ""))
        if name is not None:
            ck = Checkpoint.objects.filter(name=name, kind=Checkpoint.Kind.POLICY).first()
            if ck is not None:
                if "task_id" not in self.initial_data and ck.task_id in TASK_CHOICES:
                    attrs["task_id"] = ck.task_id
                if "catalog" not in self.initial_data and ck.catalog:
                    attrs["catalog"] = ck.catalog
        return super().validate(attrs)


class LLMSuggestParams(StrictSerializer):
    """The observation to ask about: a stored episode's latest, or a fresh one (task, seed)."""

    episode_id = serializers.CharField(max_length=MAX_KEY_LENGTH, required=False, allow_null=True, allow_blank=True, default=None,
                                       help_text="A stored episode (its latest observation); empty: a fresh one.")
    task_id = serializers.ChoiceField(TASK_CHOICES, default="budgeted_screening")
    catalog = CatalogField(default="curated")
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)

    def validate_episode_id(self, value: Any) -> str | None:
        if not value:
            return None
        if not Episode.objects.filter(episode_id=value).exists():
            raise serializers.ValidationError(f"No episode {value}.")
        return str(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("episode_id"):
            # A stored episode brings its own catalog; record that one, not the default.
            attrs["catalog"] = Episode.objects.filter(episode_id=attrs["episode_id"]).values_list(
                "catalog__name", flat=True).get()
            return attrs
        return super().validate(attrs)
