from django.apps import AppConfig

from jobs.signals import reaper_swept


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Review sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reviews import throttle  # noqa: F401  (connects the audit of login and token locks)

        # The audit chain is checkpointed when due on a quiet site too, on the workers' clock.
        reaper_swept.connect(_audit_checkpoint_if_due, dispatch_uid="reviews.audit_checkpoint_if_due")


def _audit_checkpoint_if_due(**_kwargs: object) -> None:
    # Imported here: it reads models, which are not loaded when this module is.
    from reviews.audit_anchor import audit_checkpoint_if_due

    audit_checkpoint_if_due()  # never raises
