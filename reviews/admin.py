from django.contrib import admin

from reviews.models import AuditRecord, ReviewSession


class ReadOnlyAdmin(admin.ModelAdmin):
    """Review sessions change only through the review services, audit records never."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReviewSession)
class ReviewSessionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "pharmacist", "catalog_name", "status", "signed_off_by", "created_at")
    list_filter = ("status", "catalog_name")
    list_select_related = ("pharmacist", "signed_off_by")


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ("pk", "created_at", "actor_label", "action", "session", "ip")
    list_filter = ("action",)
    search_fields = ("actor_label",)
