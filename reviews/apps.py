from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Review sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reviews import throttle  # noqa: F401  (connects the audit of login and token locks)
