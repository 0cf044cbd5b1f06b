"""A correction's run, rule set version, book and account in one composite foreign key to the
run (which holds its book's account, reconciliation migration 0016) instead of two: the same
refusals, one check per correction fewer."""

from django.db import migrations

TO_THE_RUN_AND_ACCOUNT = (
    "ALTER TABLE corrections_correction ADD CONSTRAINT correction_of_its_run "
    "FOREIGN KEY (run_id, rule_set_version_id, dataset_id, account_id) REFERENCES "
    "reconciliation_run (id, rule_set_version_id, internal_dataset_id, internal_account_id) "
    "DEFERRABLE INITIALLY DEFERRED"
)
TO_THE_RUN = (
    "ALTER TABLE corrections_correction ADD CONSTRAINT correction_of_its_run "
    "FOREIGN KEY (run_id, rule_set_version_id, dataset_id) REFERENCES "
    "reconciliation_run (id, rule_set_version_id, internal_dataset_id) "
    "DEFERRABLE INITIALLY DEFERRED"
)
TO_THE_ACCOUNT = (
    "ALTER TABLE corrections_correction ADD CONSTRAINT correction_of_its_account "
    "FOREIGN KEY (dataset_id, account_id) REFERENCES "
    "reconciliation_dataset (id, account_id) DEFERRABLE INITIALLY DEFERRED"
)
DROP_TO_THE_RUN = "ALTER TABLE corrections_correction DROP CONSTRAINT correction_of_its_run"


class Migration(migrations.Migration):
    dependencies = [
        ("corrections", "0007_sealed_webhook_secrets"),
        ("reconciliation", "0016_run_book_account"),
    ]

    operations = [
        migrations.RunSQL(
            sql=[
                DROP_TO_THE_RUN,
                "ALTER TABLE corrections_correction DROP CONSTRAINT correction_of_its_account",
                TO_THE_RUN_AND_ACCOUNT,
            ],
            reverse_sql=[DROP_TO_THE_RUN, TO_THE_RUN, TO_THE_ACCOUNT],
        ),
    ]
