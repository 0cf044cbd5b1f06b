"""A ledger row may hold two records, its legs (a Coinbase Buy: the coin in, the cash out).

`ledger_row_once` refused the second leg (every Coinbase import failed); a row now holds each
leg once. The column has a database default (0) so existing rows and COPYs that do not name it
stay valid; adding it does not rewrite the table (PostgreSQL 11+), so the immutability trigger,
which refuses UPDATE, is not involved.

Also: a source's exchange says whose files its accounts take (help text only).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0009_break_updates_in_place"),
    ]

    operations = [
        migrations.AlterField(
            model_name="source",
            name="exchange",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "None"),
                    ("kraken", "Kraken"),
                    ("coinbase", "Coinbase"),
                    ("binance", "Binance"),
                ],
                help_text="the exchange whose export files its accounts take; an exchange or "
                "custodian source that names none takes every exchange's files",
                max_length=20,
            ),
        ),
        migrations.AlterModelOptions(
            name="ledgerentryrecord",
            options={"ordering": ["dataset", "row_number", "leg"]},
        ),
        migrations.RemoveConstraint(
            model_name="ledgerentryrecord",
            name="ledger_row_once",
        ),
        migrations.AddField(
            model_name="ledgerentryrecord",
            name="leg",
            field=models.PositiveSmallIntegerField(
                db_default=0,
                default=0,
                help_text="0: the row's own movement; 1: a movement the row implies (a trade's cash)",
            ),
        ),
        migrations.AddConstraint(
            model_name="ledgerentryrecord",
            constraint=models.UniqueConstraint(
                fields=("dataset", "row_number", "leg"), name="ledger_row_leg_once"
            ),
        ),
    ]
