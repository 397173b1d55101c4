"""The "curator" group: may view, add and change catalog rows (and see their history)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Curators fix rows; deleting whole catalogs or drugs stays with administrators.
ACTIONS = {
    "catalogsource": ("view", "change"),
    "drug": ("view", "add", "change"),
    "ddirule": ("view", "add", "change", "delete"),
    "beerscriterion": ("view", "add", "change", "delete"),
    "patient": ("view", "add", "change"),
    "patientmedication": ("view", "add", "change", "delete"),
}


def create_curator_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create them now so the
    # group can reference them on a fresh database.
    app_config = apps.get_app_config("catalog")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="curator")
    codenames = [f"{action}_{model}" for model, actions in ACTIONS.items() for action in actions]
    perms = Permission.objects.filter(content_type__app_label="catalog", codename__in=codenames)
    group.permissions.add(*perms)


def remove_curator_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="curator").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_curator_group, remove_curator_group)]
