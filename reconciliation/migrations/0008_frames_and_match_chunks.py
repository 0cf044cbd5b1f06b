"""Datasets get a columnar copy for the engine; trade matches are stored as columnar chunks;
breaks lose a pattern index and two per-row account checks nobody needed.

Existing trade matches are moved into chunks (nothing is lost). Datasets imported before get no
copy (a worker writes one after each new import) and are read from their records
(reconciliation/frames.py reads either).
"""

import io
import json
from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models

CHUNK_ROWS = 10_000
TEXT = ["match_id", "rule", "account", "pair", "side"]
IDS = ["internal_ids", "external_ids"]
AMOUNTS = ["internal_quantity", "external_quantity", "internal_price", "external_price"]

IMMUTABLE = """
CREATE TRIGGER reconciliation_datasetframe_immutable BEFORE UPDATE ON reconciliation_datasetframe
    FOR EACH ROW EXECUTE FUNCTION dataset_reject_update();
"""
# The data is compressed already (lz4): PostgreSQL need not try again.
STORAGE = """
ALTER TABLE reconciliation_datasetframe ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE reconciliation_matchchunk ALTER COLUMN data SET STORAGE EXTERNAL;
"""


def _chunk(rows: list[tuple]) -> bytes:
    import polars as pl

    decimal = pl.Decimal(38, 18)
    columns = {name: [r[i] for r in rows] for i, name in enumerate(TEXT + IDS + AMOUNTS)}
    frame = pl.DataFrame(
        {
            **{n: pl.Series(n, columns[n], pl.String) for n in TEXT},
            **{n: pl.Series(n, [json.loads(v) for v in columns[n]], pl.List(pl.String))
               for n in IDS},
            **{n: pl.Series(n, [Decimal(v) for v in columns[n]], decimal) for n in AMOUNTS},
            "internal_fee": pl.Series([None] * len(rows), dtype=decimal),
            "external_fee": pl.Series([None] * len(rows), dtype=decimal),
            "internal_fee_asset": pl.Series([None] * len(rows), dtype=pl.String),
            "external_fee_asset": pl.Series([None] * len(rows), dtype=pl.String),
        }
    )  # fmt: skip
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="lz4")
    return buffer.getvalue()


def move_matches(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT run_id FROM reconciliation_tradematch ORDER BY 1")
        for (run_id,) in cursor.fetchall():
            cursor.execute(
                "SELECT match_id, rule, account, pair, side, internal_ids::text, "
                "external_ids::text, internal_quantity::text, external_quantity::text, "
                "internal_price::text, external_price::text FROM reconciliation_tradematch "
                'WHERE run_id = %s ORDER BY match_id COLLATE "C"',
                [run_id],
            )
            rows = cursor.fetchall()
            for number, start in enumerate(range(0, len(rows), CHUNK_ROWS)):
                piece = rows[start : start + CHUNK_ROWS]
                cursor.execute(
                    "INSERT INTO reconciliation_matchchunk (run_id, part, number, first_match_id,"
                    " last_match_id, match_count, data) VALUES (%s, 0, %s, %s, %s, %s, %s)",
                    [run_id, number, piece[0][0], piece[-1][0], len(piece), _chunk(piece)],
                )


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0007_pnl_margin_positions_split_runs"),
    ]

    operations = [
        migrations.CreateModel(
            name="DatasetFrame",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField()),
                ("row_count", models.PositiveIntegerField()),
                ("data", models.BinaryField()),
                ("dataset", models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to="reconciliation.dataset")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("dataset", "number"), name="dataset_frame_once")],
            },
        ),
        migrations.CreateModel(
            name="MatchChunk",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("part", models.PositiveSmallIntegerField()),
                ("number", models.PositiveIntegerField()),
                ("first_match_id", models.CharField(db_collation="C", max_length=200)),
                ("last_match_id", models.CharField(db_collation="C", max_length=200)),
                ("match_count", models.PositiveIntegerField()),
                ("data", models.BinaryField()),
                ("run", models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to="reconciliation.run")),
            ],
            options={
                "indexes": [models.Index(fields=["run", "last_match_id"], name="match_chunk_by_last_id")],
                "constraints": [models.UniqueConstraint(fields=("run", "part", "number"), name="match_chunk_once")],
            },
        ),
        migrations.RunSQL(IMMUTABLE + STORAGE, migrations.RunSQL.noop),
        migrations.RunPython(move_matches, migrations.RunPython.noop),
        migrations.DeleteModel(name="TradeMatch"),
        migrations.AlterField(
            model_name="break",
            name="external_account",
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="reconciliation.account"),
        ),
        migrations.AlterField(
            model_name="break",
            name="internal_account",
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="reconciliation.account"),
        ),
        migrations.AlterField(
            model_name="break",
            name="identity",
            field=models.CharField(max_length=64),
        ),
        migrations.AddConstraint(
            model_name="break",
            constraint=models.UniqueConstraint(fields=("identity",), name="break_identity_once"),
        ),
    ]  # fmt: skip
