"""History rows written before the admin recorded a reason read "None" in the admin's history:
give them one that says so."""

from django.db import migrations

HISTORICAL = ("HistoricalBeersCriterion", "HistoricalCatalogSource", "HistoricalDDIRule", "HistoricalDrug",
              "HistoricalPatient", "HistoricalPatientMedication")
UNRECORDED = "(no reason was recorded)"


def fill_reasons(apps, schema_editor):
    for name in HISTORICAL:
        apps.get_model("catalog", name).objects.filter(history_change_reason__isnull=True).update(
            history_change_reason=UNRECORDED)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_curator_group")]
    operations = [migrations.RunPython(fill_reasons, migrations.RunPython.noop)]
