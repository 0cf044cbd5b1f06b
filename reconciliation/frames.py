"""Stored records into engine frames, fast and exact: COPY out, read by Arrow as decimal128."""

from __future__ import annotations

import io

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection

from reconciliation.engine import types
from reconciliation.models import Dataset
from reconciliation.models.datasets import RECORD_MODELS

SCHEMAS = {"balances": types.BALANCES, "ledger": types.LEDGER, "trades": types.TRADES,
           "prices": types.PRICES, "margin": types.MARGIN, "pnl": types.PNL}  # fmt: skip


def _arrow_type(polars_type):
    if polars_type == types.DECIMAL:
        return pa.decimal128(38, 18)
    if polars_type == types.TIME:
        return pa.timestamp("us", tz="UTC")
    return pa.string()


# The column a run is partitioned by (SPEC 7.4): the asset, or for trades the pair's base.
PARTITION_COLUMN = {"balances": "asset", "ledger": "asset", "trades": "base", "margin": "asset",
                    "pnl": "asset"}  # fmt: skip
# An asset's suffix (DOT.S, staked DOT) stays in the same part as the asset itself: a ledger's
# earn-wallet entries of DOT become DOT.S only after loading.
PARTITION_KEY = "split_part({column}, '.', 1)"


def load(dataset: Dataset, assets: list[str] | None = None) -> pl.DataFrame:
    """The dataset's records in the engine's shape for its kind, in file order.

    With `assets`, only the rows of those assets (suffixes included): one part of a run.
    """
    schema = SCHEMAS[dataset.kind]
    model = RECORD_MODELS[dataset.kind]
    names = list(schema)
    # The table and columns are ours and the id an int; assets are passed as a parameter.
    select = f"SELECT {', '.join(names)} FROM {model._meta.db_table}"  # noqa: S608
    where = f"dataset_id = {int(dataset.pk)}"
    params = None
    if assets is not None:
        key = PARTITION_KEY.format(column=PARTITION_COLUMN[dataset.kind])
        where += f" AND {key} = ANY(%s)"
        params = (list(assets),)
    sql = f"COPY ({select} WHERE {where} ORDER BY row_number) TO STDOUT (FORMAT csv)"
    buffer = io.BytesIO()
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return pl.DataFrame(schema=schema)
    table = pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=names),
        convert_options=pacsv.ConvertOptions(
            column_types={name: _arrow_type(kind) for name, kind in schema.items()},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return pl.from_arrow(table).cast(schema)


def rows_by_partition_key(dataset: Dataset) -> dict[str, int]:
    """How many rows the dataset has per partition key (asset without suffix)."""
    model = RECORD_MODELS[dataset.kind]
    key = PARTITION_KEY.format(column=PARTITION_COLUMN[dataset.kind])
    sql = f"SELECT {key}, count(*) FROM {model._meta.db_table} WHERE dataset_id = %s GROUP BY 1"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [dataset.pk])
        return dict(cursor.fetchall())


def bases_sharing_trade_ids(internal: Dataset, external: Dataset) -> list[tuple[str, ...]]:
    """Groups of bases (without suffix) whose trades share an id, on either side: the book's
    trade id or exchange trade id, the exchange's trade id."""
    table = RECORD_MODELS["trades"]._meta.db_table
    key = PARTITION_KEY.format(column="base")
    sql = f"""
        WITH ids AS (
            SELECT {key} AS base, trade_id AS id FROM {table} WHERE dataset_id IN (%s, %s)
            UNION ALL
            SELECT {key}, exchange_trade_id FROM {table}
            WHERE dataset_id = %s AND exchange_trade_id <> ''
        )
        -- A hash aggregate finds the few shared ids; only those are sorted into their bases.
        SELECT array_agg(DISTINCT base ORDER BY base) FROM ids
        WHERE id IN (SELECT id FROM ids GROUP BY id HAVING min(base) <> max(base))
        GROUP BY id
    """  # noqa: S608 - our table and expression; ids are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [internal.pk, external.pk, internal.pk])
        return sorted({tuple(row[0]) for row in cursor.fetchall()})
