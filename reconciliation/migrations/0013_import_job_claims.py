"""Who holds an import job: the claiming worker process's heartbeat id, next to its name.

A sweep hands a job whose claiming worker stopped sending heartbeats to another worker
(reconciliation/import_sweep.py). Empty for every existing row: nobody holds them by instance.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0012_import_job"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="worker_instance",
            field=models.CharField(
                blank=True, help_text="the claiming worker process's heartbeat id", max_length=64
            ),
        ),
        migrations.AlterField(
            model_name="importjob",
            name="deliveries",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="claims so far: the fencing number of the current one"
            ),
        ),
    ]
