"""Jobs and checkpoints in the admin: progress bars in the list, plots and results on the
change page (read-only: a job's record is what ran), cancel and re-queue actions, which ask
``accounts.permissions`` ("jobs.cancel" per job; "jobs.requeue" and the kind's "jobs.queue.<kind>")."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.loader import render_to_string
from django.utils.html import format_html

from jobs import services
from jobs.models import Checkpoint, Job
from jobs.presenters import present
from jobs.selectors import may_cancel
from accounts import permissions


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "progress_bar", "stage", "owner", "attempts", "created_at", "finished_at")
    list_filter = ("kind", "status", "queue")
    search_fields = ("id", "stage", "error", "owner__username")
    date_hierarchy = "created_at"
    actions = ["cancel_jobs", "requeue_jobs"]
    readonly_fields = ("kind", "params", "owner", "status", "progress_bar", "stage", "queue", "worker", "attempts",
                       "max_attempts", "cancel_requested", "celery_task_id", "created_at", "started_at", "finished_at",
                       "heartbeat_at", "error", "results", "log_text")
    fields = readonly_fields

    class Media:
        css = {"all": ("jobs/admin.css",)}

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not permissions.allowed(request.user, "jobs.cancel"):
            actions.pop("cancel_jobs", None)
        if not permissions.allowed(request.user, "jobs.requeue"):
            actions.pop("requeue_jobs", None)
        return actions

    def has_add_permission(self, request) -> bool:  # jobs are queued from the pages or the API (validated there)
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    @admin.display(description="progress")
    def progress_bar(self, job: Job) -> str:
        return format_html('<progress max="100" value="{}" title="{}%"></progress> {}%', f"{job.progress:.0f}",
                           f"{job.progress:.0f}", f"{job.progress:.0f}")

    @admin.display(description="results and plots")
    def results(self, job: Job) -> str:
        return render_to_string("jobs/_results.html", {"shown": present(job), "job": job})

    @admin.display(description="log")
    def log_text(self, job: Job) -> str:
        return format_html('<pre class="log">{}</pre>', job.log)  # styled by jobs/admin.css (no inline style: CSP)

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request, queryset) -> None:
        done = 0
        for job in queryset:
            if not may_cancel(request.user, job):
                self.message_user(request, f"Job {job.pk}: {permissions.refusal('jobs.cancel')}", messages.WARNING)
                continue
            try:
                services.job_cancel(job=job)
                done += 1
            except services.JobConflict as exc:
                self.message_user(request, exc.message, messages.WARNING)
        self.message_user(request, f"{done} job(s) cancelled or asked to stop.")

    @admin.action(description="Queue the selected jobs again (a copy with the same parameters)")
    def requeue_jobs(self, request, queryset) -> None:
        queued = []
        for job in queryset:
            action = f"jobs.queue.{job.kind}"
            if not (permissions.allowed(request.user, "jobs.requeue") and permissions.allowed(request.user, action)):
                self.message_user(request, f"Job {job.pk}: {permissions.refusal('jobs.requeue')}", messages.WARNING)
                continue
            try:
                queued.append(services.job_copy(job=job, owner=request.user).pk)
            except (services.JobError, services.QueueUnavailable) as exc:
                self.message_user(request, f"Job {job.pk}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{len(queued)} job(s) queued again" + (
            f": {', '.join(f'#{pk}' for pk in queued)}." if queued else "."))


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "task_id", "catalog", "job", "created_at")
    list_filter = ("kind", "catalog", "task_id")
    search_fields = ("name",)
    readonly_fields = ("kind", "job", "path", "task_id", "catalog", "metrics", "created_at")
