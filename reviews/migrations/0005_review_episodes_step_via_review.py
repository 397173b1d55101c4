"""Review sessions' episodes are stepped only through the review pages (episodes.steps)."""

from django.db import migrations


def mark(apps, schema_editor):
    Episode = apps.get_model("episodes", "Episode")
    Episode.objects.filter(review__isnull=False).update(steps_via="review")


def unmark(apps, schema_editor):
    apps.get_model("episodes", "Episode").objects.filter(steps_via="review").update(steps_via="")


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0004_audit_head_and_truncate_protection"),
        ("episodes", "0004_episode_steps_via"),
    ]

    operations = [migrations.RunPython(mark, unmark)]
