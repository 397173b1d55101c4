"""Curation admin: search, filters, validation at the field, and a history of every edit."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from catalog.models import BeersCriterion, CatalogSource, DDIRule, Drug, Patient, PatientMedication


class AtcClassFilter(admin.SimpleListFilter):
    """Rules touching a drug of one ATC level-4 class (either drug of the pair)."""

    title = "ATC class"
    parameter_name = "atc_class"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        classes = Drug.objects.order_by("atc_class").values_list("atc_class", "atc_class_name").distinct()
        merged: dict[str, str] = {}
        for code, label in classes:
            merged[code] = merged.get(code) or label
        return [(code, f"{code} {label}".strip()) for code, label in merged.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if queryset.model is DDIRule:
            return queryset.filter(Q(drug_1__atc_class=value) | Q(drug_2__atc_class=value))
        if queryset.model is Drug:
            return queryset.filter(atc_class=value)
        return queryset.filter(drug__atc_class=value)


class SourceFilter(admin.SimpleListFilter):
    """Filter on the row's source, with long citations shortened in the sidebar."""

    title = "source"
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        model = model_admin.model
        sources = model.objects.order_by("source").values_list("source", flat=True).distinct()
        return [(s, s if len(s) <= 60 else s[:57] + "…") for s in sources if s]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(source=value) if value else queryset


class CurationAdmin(SimpleHistoryAdmin):
    """An edit in the admin records who made it as its change reason, so the history never reads
    "None" (loads and the curation services give their own reasons)."""

    def _reason(self, request: HttpRequest, verb: str) -> str:
        return f"{verb} in the admin by {request.user.get_username()}"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj._change_reason = self._reason(request, "Edited" if change else "Added")
        super().save_model(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        obj._change_reason = self._reason(request, "Deleted")
        super().delete_model(request, obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for inline_form in formset.forms:
            inline_form.instance._change_reason = self._reason(request, "Edited")
        for obj in getattr(formset, "deleted_objects", []) or []:
            obj._change_reason = self._reason(request, "Deleted")
        super().save_formset(request, form, formset, change)


@admin.register(CatalogSource)
class CatalogSourceAdmin(CurationAdmin):
    list_display = ("name", "version", "drug_count", "rule_count", "patient_count", "updated_at")
    readonly_fields = ("version", "created_at", "updated_at")
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_drugs=Count("drugs", distinct=True),
                n_rules=Count("ddi_rules", distinct=True),
                n_patients=Count("patients", distinct=True),
            )
        )

    @admin.display(description="drugs", ordering="n_drugs")
    def drug_count(self, obj: CatalogSource) -> int:
        return obj.n_drugs  # type: ignore[attr-defined]  # get_queryset's annotation

    @admin.display(description="DDI rules", ordering="n_rules")
    def rule_count(self, obj: CatalogSource) -> int:
        return obj.n_rules  # type: ignore[attr-defined]  # get_queryset's annotation

    @admin.display(description="patients", ordering="n_patients")
    def patient_count(self, obj: CatalogSource) -> int:
        return obj.n_patients  # type: ignore[attr-defined]  # get_queryset's annotation


@admin.register(Drug)
class DrugAdmin(CurationAdmin):
    list_display = (
        "drug_id", "generic_name", "atc_code", "atc_class", "catalog", "is_high_risk_elderly", "is_critical",
        "anticholinergic_score", "confidence",
    )  # fmt: skip
    list_filter = ("catalog", AtcClassFilter, "is_high_risk_elderly", "is_critical", "anticholinergic_score",
                   "confidence", SourceFilter)  # fmt: skip
    search_fields = ("drug_id", "generic_name", "atc_code", "atc_class", "atc_class_name")
    list_select_related = ("catalog",)
    fieldsets = (
        (None, {"fields": ("catalog", "drug_id", "generic_name")}),
        ("Classification", {"fields": ("atc_code", "atc_class", "atc_class_name")}),
        ("Risk", {"fields": ("is_high_risk_elderly", "is_critical", "anticholinergic_score")}),
        ("Dosing", {"fields": ("default_dose_mg", "min_dose_mg", "max_dose_mg", "frequency", "route")}),
        ("Provenance", {"fields": ("source", "confidence")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # __str__ names the catalog; the rule form's drug search lists drugs through here.
        return super().get_queryset(request).select_related("catalog")


@admin.register(DDIRule)
class DDIRuleAdmin(CurationAdmin):
    list_display = ("pair", "severity", "recommendation", "base_risk_score", "catalog", "confidence", "short_source")
    list_filter = ("catalog", "severity", "recommendation", AtcClassFilter, SourceFilter, "confidence")
    search_fields = (
        "drug_1__drug_id", "drug_1__generic_name", "drug_2__drug_id", "drug_2__generic_name", "mechanism",
    )  # fmt: skip
    list_select_related = ("catalog", "drug_1", "drug_2")
    autocomplete_fields = ("drug_1", "drug_2")
    fields = ("catalog", "drug_1", "drug_2", "severity", "recommendation", "base_risk_score", "mechanism",
              "source", "confidence")  # fmt: skip

    @admin.display(description="pair", ordering="drug_1__drug_id")
    def pair(self, obj: DDIRule) -> str:
        return f"{obj.drug_1.generic_name} + {obj.drug_2.generic_name}"

    @admin.display(description="source")
    def short_source(self, obj: DDIRule) -> str:
        return obj.source if len(obj.source) <= 50 else obj.source[:47] + "…"


@admin.register(BeersCriterion)
class BeersCriterionAdmin(CurationAdmin):
    list_display = ("drug", "criterion_type", "condition", "catalog", "confidence")
    list_filter = ("catalog", "criterion_type", AtcClassFilter, SourceFilter, "confidence")
    search_fields = ("drug__drug_id", "drug__generic_name", "condition", "rationale")
    list_select_related = ("catalog", "drug")
    autocomplete_fields = ("drug",)


class PatientMedicationInline(admin.TabularInline):
    model = PatientMedication
    extra = 0
    autocomplete_fields = ("drug",)
    ordering = ("position",)


@admin.register(Patient)
class PatientAdmin(CurationAdmin):
    list_display = ("patient_id", "catalog", "task_id", "age", "sex", "eGFR_category", "liver_function_category",
                    "medication_count")  # fmt: skip
    list_filter = ("catalog", "task_id", "sex", "eGFR_category", "liver_function_category")
    search_fields = ("patient_id",)
    list_select_related = ("catalog",)
    inlines = (PatientMedicationInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_meds=Count("regimen"))

    @admin.display(description="medications", ordering="n_meds")
    def medication_count(self, obj: Patient) -> int:
        return obj.n_meds  # type: ignore[attr-defined]  # get_queryset's annotation
