from django.db import migrations


def add_missing(apps, schema_editor):
    """Trials created before the randomization settings existed get their (unlocked) row."""
    trial_model = apps.get_model("trial", "Trial")
    randomization_model = apps.get_model("trial", "Randomization")
    for trial in trial_model.objects.filter(randomization__isnull=True):
        randomization_model.objects.create(trial=trial)


class Migration(migrations.Migration):
    dependencies = [("trial", "0004_slot_used")]
    operations = [migrations.RunPython(add_missing, migrations.RunPython.noop)]
