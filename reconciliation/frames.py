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
           "prices": types.PRICES}  # fmt: skip


def _arrow_type(polars_type):
    if polars_type == types.DECIMAL:
        return pa.decimal128(38, 18)
    if polars_type == types.TIME:
        return pa.timestamp("us", tz="UTC")
    return pa.string()


def load(dataset: Dataset) -> pl.DataFrame:
    """The dataset's records in the engine's shape for its kind, in file order."""
    schema = SCHEMAS[dataset.kind]
    model = RECORD_MODELS[dataset.kind]
    names = list(schema)
    # The table and columns are ours and the id an int: nothing here comes from a user.
    select = f"SELECT {', '.join(names)} FROM {model._meta.db_table}"  # noqa: S608
    sql = f"COPY ({select} WHERE dataset_id = {int(dataset.pk)} ORDER BY row_number) TO STDOUT"
    sql += " (FORMAT csv)"
    buffer = io.BytesIO()
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
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
