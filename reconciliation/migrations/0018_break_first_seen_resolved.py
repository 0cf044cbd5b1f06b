"""The overview's per-day counts read breaks by first sighting and by resolution; built
concurrently, so a large break table keeps taking writes while they are made."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("reconciliation", "0017_drop_run_version_and_book")]

    operations = [
        AddIndexConcurrently(
            model_name="break",
            index=models.Index(fields=["first_seen_at"], name="break_first_seen"),
        ),
        AddIndexConcurrently(
            model_name="break",
            index=models.Index(
                condition=models.Q(resolved_at__isnull=False),
                fields=["resolved_at"],
                name="break_resolved",
            ),
        ),
    ]
