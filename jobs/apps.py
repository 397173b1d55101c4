from django.apps import AppConfig


class JobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"
    verbose_name = "Queued jobs"

    def ready(self) -> None:
        # Registers the task that jobs.services enqueues by name (eager mode and the embedded
        # worker run it in this process, so it must be known here).
        from jobs import tasks  # noqa: F401
