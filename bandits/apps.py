from django.apps import AppConfig


class BanditsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bandits"
    verbose_name = "Neural-bandit screening"
