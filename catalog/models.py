"""The catalog in the database: drugs, interaction rules, Beers criteria and patients.

Several catalogs ("classic", "curated") live side by side; every row belongs to one
``CatalogSource`` and uniqueness is per catalog. The fixture files are the single source of
truth for the shipped data (``manage.py load_catalog``); curators then edit rows in the admin,
every edit keeps a history (editor, time, changed fields), and every change bumps the
catalog's ``version`` so that ``catalog.selectors.catalog_get`` rebuilds its cached
``envcore.catalog.Catalog``.

The invariants envcore relies on are enforced by the database (check and unique constraints),
and repeated in ``clean()`` so that the admin shows a message at the offending field instead
of a database error.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

# The vocabularies are envcore's (envcore.catalog); they are repeated here rather than imported
# so that migrations do not depend on envcore's import state. A test checks they agree.
SEVERITIES = ("severe", "moderate", "mild")
RECOMMENDATIONS = ("avoid_combination", "dose_adjust", "monitor_closely", "no_action")
BEERS_TYPES = ("avoid", "caution", "dose_adjust", "avoid_in_condition")
TASK_IDS = ("easy_screening", "budgeted_screening", "complex_tradeoff")
SEXES = ("F", "M")
EGFR_CATEGORIES = ("normal", "mild", "moderate", "severe")
LIVER_CATEGORIES = ("normal", "impaired", "severe")


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


class CatalogSource(models.Model):
    """A named catalog. ``version`` goes up by one on every change to any of its rows."""

    name = models.SlugField(max_length=32, unique=True)
    description = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Drug(models.Model):
    catalog = models.ForeignKey(CatalogSource, on_delete=models.PROTECT, related_name="drugs")
    drug_id = models.CharField(max_length=64, help_text="Stable identifier, e.g. DRUG_WARFARIN.")
    generic_name = models.CharField(max_length=128)
    atc_code = models.CharField("ATC code", max_length=7, blank=True, help_text="ATC level 5, e.g. B01AA03.")
    atc_class = models.CharField(
        "ATC class", max_length=5, help_text="ATC level 4, e.g. B01AA: drugs of one class can substitute each other."
    )
    atc_class_name = models.CharField("ATC class name", max_length=128, blank=True)
    is_high_risk_elderly = models.BooleanField("high risk in the elderly", default=False)
    is_critical = models.BooleanField(
        "critical", default=False, help_text="Must not be stopped without a substitute (complex_tradeoff grader)."
    )
    default_dose_mg = models.FloatField(default=1.0)
    min_dose_mg = models.FloatField(default=0.5)
    max_dose_mg = models.FloatField(default=1.0)
    frequency = models.CharField(max_length=32, default="daily")
    route = models.CharField(max_length=32, default="oral")
    anticholinergic_score = models.PositiveSmallIntegerField(
        default=0, help_text="Anticholinergic burden (ACB scale, 0–3)."
    )
    source = models.TextField(blank=True, help_text="Where this row comes from.")
    confidence = models.CharField(max_length=32, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["catalog", "drug_id"]
        constraints = [
            models.UniqueConstraint(fields=["catalog", "drug_id"], name="drug_unique_id_per_catalog"),
            models.CheckConstraint(
                condition=Q(min_dose_mg__lte=F("default_dose_mg")) & Q(default_dose_mg__lte=F("max_dose_mg")),
                name="drug_doses_ordered",
                violation_error_message="Doses must satisfy minimum ≤ default ≤ maximum.",
            ),
            models.CheckConstraint(
                condition=Q(anticholinergic_score__lte=3),
                name="drug_anticholinergic_score_0_3",
                violation_error_message="The anticholinergic score is on the ACB scale, 0 to 3.",
            ),
        ]

    def __str__(self) -> str:
        # The catalog is part of the label: both catalogs have a warfarin, and a curator picking
        # a rule's drug from the search box must see which one is which.
        return f"{self.generic_name} [{self.drug_id}, {self.catalog.name}]"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if len(self.atc_class or "") != 5:
            errors["atc_class"] = "Must be an ATC level-4 code of 5 characters, e.g. B01AA."
        elif self.atc_code and not self.atc_code.startswith(self.atc_class):
            errors["atc_code"] = f"Must start with the ATC class {self.atc_class}."
        if None not in (self.min_dose_mg, self.default_dose_mg, self.max_dose_mg):
            # Both checks, so a form with the two wrong shows the two errors at once.
            if self.min_dose_mg > self.default_dose_mg:
                errors["min_dose_mg"] = "Must not exceed the default dose."
            if self.default_dose_mg > self.max_dose_mg:
                errors["max_dose_mg"] = "Must not be below the default dose."
            if self.min_dose_mg > self.max_dose_mg and "min_dose_mg" not in errors:
                errors["min_dose_mg"] = "Must not exceed the maximum dose."
        if self.anticholinergic_score is not None and self.anticholinergic_score > 3:
            errors["anticholinergic_score"] = "The ACB scale runs from 0 to 3."
        if errors:
            raise ValidationError(errors)


class DDIRule(models.Model):
    """An interaction between two drugs of one catalog, stored once per unordered pair.

    Canonical order is on the drugs' primary keys: ``drug_1_id < drug_2_id``. The foreign-key
    columns are what the database can compare, so a check constraint on them together with the
    unique (catalog, drug_1, drug_2) constraint makes the database itself reject both a self-pair
    and the reversed duplicate of an existing pair, with no denormalised copy of the drug ids to
    drift. ``save()`` and ``clean()`` swap the drugs into that order; envcore's own order (by
    drug_id string) is applied when the selector builds records.
    """

    catalog = models.ForeignKey(CatalogSource, on_delete=models.PROTECT, related_name="ddi_rules")
    drug_1 = models.ForeignKey(Drug, on_delete=models.CASCADE, related_name="+")
    drug_2 = models.ForeignKey(Drug, on_delete=models.CASCADE, related_name="+")
    severity = models.CharField(max_length=16, choices=_choices(SEVERITIES))
    recommendation = models.CharField(max_length=32, choices=_choices(RECOMMENDATIONS))
    base_risk_score = models.FloatField(help_text="Contribution to regimen risk, between 0 and 1.")
    mechanism = models.TextField(blank=True)
    source = models.TextField(blank=True)
    confidence = models.CharField(max_length=32, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "DDI rule"
        ordering = ["catalog", "drug_1__drug_id", "drug_2__drug_id"]
        constraints = [
            models.UniqueConstraint(fields=["catalog", "drug_1", "drug_2"], name="ddirule_unique_pair_per_catalog"),
            models.CheckConstraint(
                condition=Q(drug_1__lt=F("drug_2")),
                name="ddirule_pair_canonical_order",
                violation_error_message="A rule needs two different drugs, stored in canonical order.",
            ),
            models.CheckConstraint(
                condition=Q(base_risk_score__gte=0) & Q(base_risk_score__lte=1),
                name="ddirule_risk_between_0_and_1",
                violation_error_message="The base risk score must be between 0 and 1.",
            ),
            models.CheckConstraint(
                condition=Q(severity__in=SEVERITIES), name="ddirule_severity_valid"
            ),
            models.CheckConstraint(
                condition=Q(recommendation__in=RECOMMENDATIONS), name="ddirule_recommendation_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.drug_1.drug_id} + {self.drug_2.drug_id}"

    def canonicalize(self) -> None:
        """Put the pair in canonical order (smaller primary key first)."""
        if self.drug_1_id and self.drug_2_id and self.drug_1_id > self.drug_2_id:
            self.drug_1, self.drug_2 = self.drug_2, self.drug_1

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.base_risk_score is not None and not 0.0 <= self.base_risk_score <= 1.0:
            errors["base_risk_score"] = "Must be between 0 and 1."
        if self.drug_1_id and self.drug_2_id:
            if self.drug_1_id == self.drug_2_id:
                errors["drug_2"] = "A rule needs two different drugs; drug_2 is the same as drug_1."
            else:
                for field in ("drug_1", "drug_2"):
                    drug = getattr(self, field)
                    if self.catalog_id and drug.catalog_id != self.catalog_id:
                        errors[field] = f"{drug.drug_id} belongs to the {drug.catalog} catalog, not to this rule's."
                self.canonicalize()
                if "drug_1" not in errors and "drug_2" not in errors:
                    clash = DDIRule.objects.filter(catalog_id=self.catalog_id, drug_1=self.drug_1_id, drug_2=self.drug_2_id)
                    if clash.exclude(pk=self.pk).exists():
                        errors["drug_2"] = (
                            f"A rule for {self.drug_1.drug_id} + {self.drug_2.drug_id} already exists in this catalog."
                        )
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs) -> None:
        self.canonicalize()
        super().save(*args, **kwargs)


class BeersCriterion(models.Model):
    """An AGS Beers criterion on one drug, optionally only for patients with a condition."""

    catalog = models.ForeignKey(CatalogSource, on_delete=models.PROTECT, related_name="beers_criteria")
    drug = models.ForeignKey(Drug, on_delete=models.CASCADE, related_name="beers_criteria")
    criterion_type = models.CharField(max_length=32, choices=_choices(BEERS_TYPES))
    # Blank (not NULL) means "whatever the patient's conditions", so the unique constraint below
    # also catches two unconditional criteria of one type; envcore reads blank as None.
    condition = models.CharField(max_length=64, blank=True, help_text="Condition code; blank applies to everyone.")
    rationale = models.TextField(blank=True)
    source = models.TextField(blank=True)
    confidence = models.CharField(max_length=32, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "Beers criterion"
        verbose_name_plural = "Beers criteria"
        ordering = ["catalog", "drug__drug_id", "criterion_type", "condition"]
        constraints = [
            models.UniqueConstraint(
                fields=["catalog", "drug", "criterion_type", "condition"], name="beers_unique_per_catalog"
            ),
            models.CheckConstraint(condition=Q(criterion_type__in=BEERS_TYPES), name="beers_criterion_type_valid"),
        ]

    def __str__(self) -> str:
        suffix = f" if {self.condition}" if self.condition else ""
        return f"{self.drug.drug_id}: {self.criterion_type}{suffix}"

    def clean(self) -> None:
        if self.drug_id and self.catalog_id and self.drug.catalog_id != self.catalog_id:
            raise ValidationError({"drug": f"{self.drug.drug_id} belongs to the {self.drug.catalog} catalog."})


class Patient(models.Model):
    """A scenario patient. ``position`` keeps the fixture's file order: seeds index into it."""

    catalog = models.ForeignKey(CatalogSource, on_delete=models.PROTECT, related_name="patients")
    patient_id = models.CharField(max_length=64)
    position = models.PositiveIntegerField(help_text="Order in the task pool; a seed picks by this order.")
    task_id = models.CharField(max_length=32, choices=_choices(TASK_IDS))
    age = models.PositiveSmallIntegerField()
    sex = models.CharField(max_length=1, choices=[("F", "female"), ("M", "male")])
    conditions = models.JSONField(default=list, blank=True, help_text="A list of condition codes.")
    eGFR_category = models.CharField("eGFR category", max_length=16, choices=_choices(EGFR_CATEGORIES))
    liver_function_category = models.CharField(max_length=16, choices=_choices(LIVER_CATEGORIES))
    medications: models.ManyToManyField[Drug, PatientMedication] = models.ManyToManyField(
        Drug, through="PatientMedication", related_name="+")

    history = HistoricalRecords()

    class Meta:
        # Position is not unique: a reload that reorders patients would collide half-way on
        # SQLite, which cannot defer constraints. Ties break on patient_id.
        ordering = ["catalog", "position", "patient_id"]
        constraints = [
            models.UniqueConstraint(fields=["catalog", "patient_id"], name="patient_unique_id_per_catalog"),
            models.CheckConstraint(condition=Q(task_id__in=TASK_IDS), name="patient_task_id_valid"),
            models.CheckConstraint(condition=Q(sex__in=SEXES), name="patient_sex_valid"),
            models.CheckConstraint(condition=Q(eGFR_category__in=EGFR_CATEGORIES), name="patient_egfr_valid"),
            models.CheckConstraint(
                condition=Q(liver_function_category__in=LIVER_CATEGORIES), name="patient_liver_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.patient_id

    def clean(self) -> None:
        conditions = self.conditions
        if not isinstance(conditions, list) or not all(isinstance(c, str) and c for c in conditions):
            raise ValidationError({"conditions": 'Must be a list of condition codes, e.g. ["CKD", "AF"].'})


class PatientMedication(models.Model):
    """One drug of a patient's regimen, in the order the fixture lists it."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="regimen")
    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "position"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "position"], name="patientmed_unique_position"),
            models.UniqueConstraint(fields=["patient", "drug"], name="patientmed_unique_drug"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id}#{self.position}: {self.drug_id}"

    def clean(self) -> None:
        if self.drug_id and self.patient_id and self.drug.catalog_id != self.patient.catalog_id:
            raise ValidationError({"drug": f"{self.drug.drug_id} belongs to the {self.drug.catalog} catalog."})
