"""Parameters of the bandit jobs (``bandit_train``, ``bandit_screen``), as DRF serializers in
the pattern of ``jobs.params``: one definition for the API, the job form and the admin; every
error names its field; defaults are filled in so a job row records exactly what ran.

The defaults train in about a minute on one CPU core (20,000 combinations of the curated
catalog, 1,000 random warm-up pulls then 2,000 bandit steps, 5 epochs per retraining)."""

from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from bandits.combinations import DrugLookup, Written, item_message, lines_message, parse_lines, resolve_combinations
from bandits.datasets import ADJ_MODES
from bandits.training import SAMPLINGS
from catalog.selectors import catalog_get
from jobs.models import Checkpoint
from jobs.params import CatalogField, FiniteFloatField, StrictSerializer, catalog_names

DATASETS = ["catalog", "protective", "neutral"]
MAX_SCREEN_COMBINATIONS = 10_000
# Bounds on what one screening request (or job) may ask for, beyond the number of combinations:
# the drugs of one combination (a regimen of 3–15 drugs is the case in point; the catalogs'
# combinations average 5, the paper's 8.7) and the drug ids of all its combinations together.
MAX_COMBINATION_DRUGS = 40
MAX_SCREEN_IDS = 100_000
MAX_PROBLEMS_LISTED = 50  # bad combinations named in one refusal
SYNTHETIC_MEAN_SIZE = 8.7  # the paper's mean number of drugs per combination
CATALOG_MEAN_SIZE = 5.0
SYNTHETIC_ONLY = ("n_drugs", "n_patterns", "adj_mode")  # dropped from a catalog run's parameters
CATALOG_ONLY = ("catalog",)  # dropped from a synthetic run's


def screen_size_problem(combinations: Any, what: str) -> str | None:
    """Why a list of combinations is too large to screen at once (``what``: "request" or
    "screening job"), or None. Checked before anything is looked up or encoded."""
    if not isinstance(combinations, list):
        return None
    if len(combinations) > MAX_SCREEN_COMBINATIONS:
        return (f"At most {MAX_SCREEN_COMBINATIONS:,} combinations per {what}, got {len(combinations):,}: "
                "split them" + (", or run a bandit_screen job." if what == "request" else "."))
    total = sum(len(c) for c in combinations if isinstance(c, list))
    if total > MAX_SCREEN_IDS:
        return f"At most {MAX_SCREEN_IDS:,} drug ids in all per {what}, got {total:,}: split the combinations."
    return None


class BanditTrainParams(StrictSerializer):
    dataset = serializers.ChoiceField(DATASETS, default="catalog", help_text=(
        "catalog: combinations of the catalog's drugs, risk from its interaction rules and Beers criteria; "
        "protective / neutral: the paper's synthetic datasets."))
    catalog = CatalogField(default="curated", help_text="The catalog of a catalog dataset.")
    n_combinations = serializers.IntegerField(min_value=500, max_value=200_000, default=20_000)
    n_drugs = serializers.IntegerField(min_value=10, max_value=2_000, default=100,
                                       help_text="Synthetic datasets only (a catalog dataset has the catalog's drugs; "
                                                 "not stored for one).")
    n_patterns = serializers.IntegerField(min_value=1, max_value=100, default=10,
                                          help_text="Dangerous patterns planted in a synthetic dataset.")
    mean_size = FiniteFloatField(min_value=2.0, max_value=20.0, required=False, allow_null=True, default=None,
                                       help_text="Mean drugs per combination (default 8.7 synthetic, 5 catalog).")
    adj_mode = serializers.ChoiceField(list(ADJ_MODES), default="decay",
                                       help_text="Synthetic datasets: decay (the intended adjustment) or authors (bug-compatible with their generator).")
    warmup = serializers.IntegerField(min_value=10, max_value=100_000, default=1_000,
                                      help_text="Random warm-up pulls (tau) before the bandit steps.")
    total_steps = serializers.IntegerField(min_value=10, max_value=100_000, default=3_000,
                                           help_text="All pulls, warm-up included.")
    warmup_epochs = serializers.IntegerField(min_value=1, max_value=500, default=30)
    bandit_epochs = serializers.IntegerField(min_value=1, max_value=200, default=5,
                                             help_text="Epochs of each retraining (the paper: 100).")
    train_every = serializers.IntegerField(min_value=1, max_value=10_000, default=10)
    sampling = serializers.ChoiceField(list(SAMPLINGS), default="uniform", help_text=(
        "Training rows per epoch: uniform (a permutation) or lds (the authors' reweighting of rare rewards)."))
    flag_every = serializers.IntegerField(min_value=10, max_value=100_000, default=200,
                                          help_text="Bandit steps between flagging rounds (one point of the plots each).")
    hidden = serializers.IntegerField(min_value=8, max_value=1024, default=128)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    random_baseline = serializers.ChoiceField(["auto", "yes", "no"], default="auto", help_text=(
        "Also train the random-supervised baseline at the same budget (auto: when total_steps ≤ 5,000)."))
    checkpoint_name = serializers.SlugField(max_length=100, required=False, allow_blank=True, default="",
                                            help_text="Name of the model (default: bandit-<dataset>-s<seed>-job<id>).")

    def validate_checkpoint_name(self, value: str) -> str:
        if value and Checkpoint.objects.filter(name=value).exists():
            raise serializers.ValidationError(f"A checkpoint named {value!r} exists already.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["warmup"] > attrs["total_steps"]:
            raise serializers.ValidationError({"warmup": [
                f"The warm-up ({attrs['warmup']}) cannot exceed total_steps ({attrs['total_steps']})."]})
        catalog_dataset = attrs["dataset"] == "catalog"
        if catalog_dataset and attrs["catalog"] not in catalog_names():
            # The default is not checked by the field itself: check it here, where it matters.
            names = ", ".join(catalog_names()) or "(none loaded)"
            raise serializers.ValidationError({"catalog": [
                f"Unknown catalog {attrs['catalog']!r}; expected one of {names}."]})
        if attrs["mean_size"] is None:
            attrs["mean_size"] = CATALOG_MEAN_SIZE if catalog_dataset else SYNTHETIC_MEAN_SIZE
        n_drugs = _catalog_drug_count(attrs["catalog"]) if catalog_dataset else attrs["n_drugs"]
        if attrs["mean_size"] >= n_drugs:
            raise serializers.ValidationError({"mean_size": [
                f"The mean size ({attrs['mean_size']}) must be below the number of drugs ({n_drugs})."]})
        if not catalog_dataset and attrs["n_patterns"] >= attrs["n_combinations"]:
            raise serializers.ValidationError({"n_patterns": ["n_patterns must be below n_combinations."]})
        # Only what applies to this dataset is stored (the form sends every field it shows), so the
        # job row and its page list the parameters that shaped the run and no others.
        for name in CATALOG_ONLY if not catalog_dataset else SYNTHETIC_ONLY:
            attrs.pop(name, None)
        return attrs


def _catalog_drug_count(name: str) -> int:
    return len(catalog_get(name).drugs)


class BanditModelField(serializers.CharField):
    """A bandit model's name (blank: the newest); on the form, a picker of the trained models,
    each with its catalog (which the combinations' completion follows)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("style", {"widget": "picker"})
        super().__init__(**kwargs)

    def form_options(self) -> list[dict[str, str]]:
        from bandits.selectors import bandit_model_options

        return bandit_model_options()


class CombinationsField(serializers.Field):
    """``"all"`` (the model's training combinations) or at most 10,000 combinations of drugs,
    each drug by id or by name (resolved against the model's drugs by ``BanditScreenParams``).
    The job form sends text, one combination per line with its drugs separated by "+" or ","
    (or JSON); the API sends JSON lists. Parsed here into ``Written`` (which remembers lines)."""

    default_error_messages = {"invalid": 'Expected "all" or a list of combinations (lists of drug ids or names).'}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("style", {"widget": "textarea", "rows": 6, "completions_follow": "checkpoint",
                                    "placeholder": "all\n— or one combination per line, e.g.\naspirin + warfarin\n"
                                                   "DRUG_TRAMADOL, sertraline"})
        super().__init__(**kwargs)

    def form_completions(self) -> list[dict[str, str]]:
        from bandits.selectors import bandit_drug_completions

        return bandit_drug_completions()

    def to_internal_value(self, data: Any) -> Any:
        written: Written | None = None
        if isinstance(data, str):
            text = data.strip()
            if text.lower() == "all":
                return "all"
            if text.startswith("["):
                try:
                    data = json.loads(text)
                except ValueError as exc:
                    raise serializers.ValidationError(f"Malformed JSON: {exc}") from exc
            else:
                written = parse_lines(text)
                data = written.items
        if not isinstance(data, list) or not data:
            self.fail("invalid")
        written = written or Written(data)
        too_large = screen_size_problem(data, "screening job")
        if too_large:
            raise serializers.ValidationError(too_large)
        for i, combo in enumerate(data):
            if isinstance(combo, list) and len(combo) > MAX_COMBINATION_DRUGS:
                message = f"At most {MAX_COMBINATION_DRUGS} drugs per combination, got {len(combo)}."
                if written.lines is not None:
                    raise serializers.ValidationError(f"{written.where(i)}: {message[0].lower()}{message[1:]}")
                raise serializers.ValidationError({str(i): [message]})
        return written

    def to_representation(self, value: Any) -> Any:
        return value.items if isinstance(value, Written) else value


class BanditScreenParams(StrictSerializer):
    checkpoint = BanditModelField(max_length=100, required=False, allow_blank=True, default="",
                                  help_text="A bandit model (default: the newest).")
    combinations = CombinationsField(default="all", help_text=(
        '"all" (the model\'s training combinations), or one combination per line, its drugs separated by "+" or ",", '
        "each by id or name (case does not matter); at most 10,000 combinations."))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        from bandits.selectors import BanditModelMissing, bandit_model_get, bandit_scorer

        try:
            ck = bandit_model_get(attrs.get("checkpoint") or None)
            scorer = bandit_scorer(ck)
        except BanditModelMissing as exc:
            raise serializers.ValidationError({"checkpoint": [exc.message]}) from exc
        written = attrs["combinations"]
        if written != "all":
            lookup = DrugLookup.of(scorer)
            resolved, problems = resolve_combinations(written, lookup)
            if problems and written.lines is not None:  # the form: one message naming the lines
                raise serializers.ValidationError({"combinations": [lines_message(written, problems, lookup)]})
            if problems:  # the API: one error per bad combination, at its index
                raise serializers.ValidationError({"combinations": {
                    str(p.index): [item_message(p, lookup)] for p in problems[:MAX_PROBLEMS_LISTED]}})
            # Stored as ids, whatever was typed: the job row says exactly what was scored.
            attrs["combinations"] = resolved
        # The concrete model (the newest at creation time) and its file, so that the job row says
        # what ran and the runner (no Django) can open it.
        attrs["checkpoint"] = ck.name
        attrs["checkpoint_path"] = ck.path
        return attrs
