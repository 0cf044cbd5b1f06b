"""Breaks seen again are rewritten in place (HOT updates), and new breaks feed fewer indexes.

- fillfactor 50: half of each page is left free for the next version of its rows. Pages already
  written keep their fill until a row on them is rewritten elsewhere; within a few runs every
  break seen again sits on a page with room.
- (last_seen_run, -id) dropped: the breaks list finds a run's breaks by observations, and an
  index on a column every run changes forbids in-place updates.
- the two account indexes become one partial index (type, accounts) of live breaks: what a run
  resolves; the assignee index keeps only assigned breaks.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FOREIGN_KEY_INDEXES = [
    ("reconciliation_break_assignee_id_ff71c760", "assignee_id"),
    ("reconciliation_break_external_account_id_c6e42128", "external_account_id"),
    ("reconciliation_break_internal_account_id_9cc163b6", "internal_account_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0008_frames_and_match_chunks"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE reconciliation_break SET (fillfactor = 50)",
            "ALTER TABLE reconciliation_break RESET (fillfactor)",
        ),
        migrations.RemoveIndex(
            model_name="break",
            name="reconciliat_last_se_1095d8_idx",
        ),
        # The plain indexes Django made for these foreign keys are dropped by name: altering the
        # fields would also drop and re-add the assignee's foreign key, checking every break.
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    [f"DROP INDEX IF EXISTS {name}" for name, _ in FOREIGN_KEY_INDEXES],
                    [
                        f"CREATE INDEX IF NOT EXISTS {name} ON reconciliation_break ({column})"
                        for name, column in FOREIGN_KEY_INDEXES
                    ],
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="break",
                    name="assignee",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="break",
                    name="external_account",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="reconciliation.account",
                    ),
                ),
                migrations.AlterField(
                    model_name="break",
                    name="internal_account",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="reconciliation.account",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="break",
            index=models.Index(
                condition=models.Q(("status__in", ["open", "investigating"])),
                fields=["type", "internal_account", "external_account"],
                name="live_break_scope",
            ),
        ),
        migrations.AddIndex(
            model_name="break",
            index=models.Index(
                condition=models.Q(("assignee__isnull", False)),
                fields=["assignee"],
                name="assigned_break",
            ),
        ),
    ]
