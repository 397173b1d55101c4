from django.apps import AppConfig


class JobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"
    verbose_name = "Queued jobs"

    def ready(self) -> None:
        # Registers the task that jobs.services enqueues by name: eager mode runs it in the
        # process that enqueues, so every process must know it.
        from jobs import tasks  # noqa: F401
