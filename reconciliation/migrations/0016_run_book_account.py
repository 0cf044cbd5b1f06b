"""A run holds its book's account (the database keeps it the book's own), so that one composite
foreign key of a correction covers its run, rule set version, book and account (corrections
migration 0008): one check per correction instead of two."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0015_correction_key_targets"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="internal_account",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="reconciliation.account",
            ),
        ),
        migrations.RunSQL(
            sql="UPDATE reconciliation_run r SET internal_account_id = d.account_id "
            "FROM reconciliation_dataset d WHERE d.id = r.internal_dataset_id",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddConstraint(
            model_name="run",
            constraint=models.UniqueConstraint(
                fields=("id", "rule_set_version", "internal_dataset", "internal_account"),
                name="run_version_book_and_account",
            ),
        ),
        migrations.RunSQL(
            sql="ALTER TABLE reconciliation_run ADD CONSTRAINT run_book_of_its_account "
            "FOREIGN KEY (internal_dataset_id, internal_account_id) REFERENCES "
            "reconciliation_dataset (id, account_id) DEFERRABLE INITIALLY DEFERRED",
            reverse_sql="ALTER TABLE reconciliation_run DROP CONSTRAINT run_book_of_its_account",
        ),
    ]
