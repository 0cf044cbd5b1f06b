"""The run, its rule set version and book as one foreign key; the dataset and its account as
another (instead of four: each is checked on every correction a run writes). The adjustment
sets' one-correction rule in partial unique indexes, which hold only the set ones."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("corrections", "0004_proposal_job_delivery_limit"),
        ("reconciliation", "0015_correction_key_targets"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="correction",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="reconciliation.account",
            ),
        ),
        migrations.AlterField(
            model_name="correction",
            name="applied_set",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="reconciliation.adjustmentset",
            ),
        ),
        migrations.AlterField(
            model_name="correction",
            name="dataset",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="reconciliation.dataset",
            ),
        ),
        migrations.AlterField(
            model_name="correction",
            name="reversal_set",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="reconciliation.adjustmentset",
            ),
        ),
        migrations.AlterField(
            model_name="correction",
            name="rule_set_version",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="reconciliation.rulesetversion",
            ),
        ),
        migrations.AlterField(
            model_name="correction",
            name="run",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                help_text="the run whose break it corrects: its rule set version judges it",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="corrections",
                to="reconciliation.run",
            ),
        ),
        migrations.AddConstraint(
            model_name="correction",
            constraint=models.UniqueConstraint(
                condition=models.Q(("applied_set__isnull", False)),
                fields=("applied_set",),
                name="one_correction_per_applied_set",
            ),
        ),
        migrations.AddConstraint(
            model_name="correction",
            constraint=models.UniqueConstraint(
                condition=models.Q(("reversal_set__isnull", False)),
                fields=("reversal_set",),
                name="one_correction_per_reversal_set",
            ),
        ),
        migrations.RunSQL(
            sql=[
                "ALTER TABLE corrections_correction ADD CONSTRAINT correction_of_its_run "
                "FOREIGN KEY (run_id, rule_set_version_id, dataset_id) REFERENCES "
                "reconciliation_run (id, rule_set_version_id, internal_dataset_id) "
                "DEFERRABLE INITIALLY DEFERRED",
                "ALTER TABLE corrections_correction ADD CONSTRAINT correction_of_its_account "
                "FOREIGN KEY (dataset_id, account_id) REFERENCES "
                "reconciliation_dataset (id, account_id) DEFERRABLE INITIALLY DEFERRED",
            ],
            reverse_sql=[
                "ALTER TABLE corrections_correction DROP CONSTRAINT correction_of_its_account",
                "ALTER TABLE corrections_correction DROP CONSTRAINT correction_of_its_run",
            ],
        ),
    ]
