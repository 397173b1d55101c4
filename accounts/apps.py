from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Roles and who may do what. No models: the roles are Django groups, created by
    reviews' migration 0002 (kept there so the tables and their history stay as they are)."""

    name = "accounts"
    verbose_name = "Accounts and permissions"
