"""Who holds a run or a part: the claiming worker and its process's heartbeat id.

A sweep hands a run (or part) whose claiming worker stopped sending heartbeats to another worker
(reconciliation/run_sweep.py). Empty for every existing row: nobody holds them.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0010_ledger_row_legs"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="worker",
            field=models.CharField(
                blank=True, help_text="the claiming worker's name", max_length=200
            ),
        ),
        migrations.AddField(
            model_name="run",
            name="worker_instance",
            field=models.CharField(
                blank=True, help_text="the claiming worker process's heartbeat id", max_length=64
            ),
        ),
        migrations.AddField(
            model_name="runpartition",
            name="worker_instance",
            field=models.CharField(
                blank=True, help_text="the claiming worker process's heartbeat id", max_length=64
            ),
        ),
    ]
