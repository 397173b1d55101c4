"""Episodes and steps are records of what happened: the admin shows them and changes nothing."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from episodes.models import Episode, Step


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class StepInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Step
    fields = ("index", "actor_label", "action", "reward", "raw_reward", "done", "created_at", "duration_ms")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Episode)
class EpisodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("episode_id", "task_id", "patient_id", "catalog", "status", "step_count", "grader_score",
                    "owner", "updated_at")  # fmt: skip
    list_filter = ("task_id", "status", "catalog", "durability")
    search_fields = ("episode_id", "patient_id", "owner__username")
    list_select_related = ("catalog", "owner")
    date_hierarchy = "created_at"
    inlines = (StepInline,)


@admin.register(Step)
class StepAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "actor_label", "reward", "done", "created_at")
    list_filter = ("done", "episode__task_id", "episode__status")
    search_fields = ("episode__episode_id", "actor_label")
    list_select_related = ("episode",)
