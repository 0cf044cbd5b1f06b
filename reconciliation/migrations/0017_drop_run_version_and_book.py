"""The run's three-column key target, which no foreign key points at any more (corrections
migration 0008 points at the four-column one)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0016_run_book_account"),
        ("corrections", "0008_one_key_to_the_run"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="run", name="run_version_and_book"),
    ]
