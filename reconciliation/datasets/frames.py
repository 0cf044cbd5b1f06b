"""Datasets as engine frames, fast and exact.

After each import a worker writes its records in the engine's shape as compressed Arrow IPC
(`DatasetFrame`, `prepare`; the import queues that task, this module sends none): a run reads
those back in a fraction of a second. A dataset without them (just imported, or imported
before they existed) is read from its records: COPY out, parsed by Arrow as decimal128. Both
give the same frame (tests/reconciliation/datasets/test_frames.py).
"""

from __future__ import annotations

import io

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection, transaction

from config import copy_insert
from reconciliation import arrow_bytes
from reconciliation.engine import types
from reconciliation.models import Dataset, DatasetFrame
from reconciliation.models.datasets import RECORD_MODELS, file_order


def _arrow_type(polars_type):
    if polars_type == types.DECIMAL:
        return pa.decimal128(38, 18)
    if polars_type == types.TIME:
        return pa.timestamp("us", tz="UTC")
    return pa.string()


# An asset's suffix (DOT.S, staked DOT) stays in the same part as the asset itself: a ledger's
# earn-wallet entries of DOT become DOT.S only after loading.
PARTITION_KEY = "split_part({column}, '.', 1)"


FRAME_TABLE = DatasetFrame._meta.db_table
FRAME_ROWS = 500_000  # rows per stored piece: bounded memory for whoever writes or reads one


def prepare(dataset: Dataset) -> bool:
    """Write the dataset's columnar copy from its records, once; False if it had one."""
    if DatasetFrame.objects.filter(dataset=dataset).exists():
        return False
    frame = load_records(dataset)
    with transaction.atomic(), arrow_bytes.binary_cursor() as cursor:
        for number, start in enumerate(range(0, frame.height, FRAME_ROWS)):
            piece = frame.slice(start, FRAME_ROWS)
            cursor.execute(
                f"INSERT INTO {FRAME_TABLE} (dataset_id, number, row_count, data) "  # noqa: S608
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",  # prepared twice at once
                [dataset.pk, number, piece.height, arrow_bytes.encode(piece)],
            )
    return True


def load(dataset: Dataset, assets: list[str] | None = None) -> pl.DataFrame:
    """The dataset's records in the engine's shape for its kind, in file order.

    With `assets`, only the rows of those assets (suffixes included): one part of a run.
    """
    frame = stored(dataset)
    if frame is None:
        return load_records(dataset, assets)
    if assets is not None:
        frame = frame.filter(in_partition(frame, dataset.kind, assets))
    return frame


def partition_keys(values: pl.Series | pl.Expr) -> pl.Series | pl.Expr:
    """PARTITION_KEY in polars: each value up to its first dot."""
    return values.str.split(".").list.first()


def _few_values(frame: pl.DataFrame, column: str) -> bool:
    """Whether the column repeats its values a lot (twenty bases in a million trades), so
    that work per distinct value beats work per row (a million assets: it does not)."""
    return frame.get_column(column).approx_n_unique() * 8 < frame.height


def in_partition(frame: pl.DataFrame, kind: str, assets) -> pl.Expr:
    """Rows whose partition key is among `assets`."""
    column = types.PARTITION_COLUMN[kind]
    wanted = pl.Series(list(assets), dtype=pl.String).implode()
    if not _few_values(frame, column):
        return partition_keys(pl.col(column)).is_in(wanted)
    values = frame.get_column(column).unique()
    return pl.col(column).is_in(values.filter(partition_keys(values).is_in(wanted)).implode())


def stored(dataset: Dataset, columns: list[str] | None = None) -> pl.DataFrame | None:
    """The dataset's columnar copy, whole or only `columns`; None if it has none."""
    with arrow_bytes.binary_cursor() as cursor:
        cursor.execute(
            f"SELECT row_count, data FROM {FRAME_TABLE} WHERE dataset_id = %s ORDER BY number",  # noqa: S608
            [dataset.pk],
            binary=True,
        )
        pieces = cursor.fetchall()
    if not pieces or sum(count for count, _ in pieces) != dataset.row_count:
        return None  # none written (or, never expected, not all): read the records
    frames = [arrow_bytes.decode(data, columns) for _, data in pieces]
    return pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]


def load_records(dataset: Dataset, assets: list[str] | None = None) -> pl.DataFrame:
    """The dataset read from its records (see `load`)."""
    schema = types.SCHEMAS[dataset.kind]
    model = RECORD_MODELS[dataset.kind]
    names = list(schema)
    # The table and columns are ours and the id an int; assets are passed as a parameter.
    select = f"SELECT {', '.join(names)} FROM {model._meta.db_table}"  # noqa: S608
    where = f"dataset_id = {int(dataset.pk)}"
    params = None
    if assets is not None:
        key = PARTITION_KEY.format(column=types.PARTITION_COLUMN[dataset.kind])
        where += f" AND {key} = ANY(%s)"
        params = (list(assets),)
    order = ", ".join(file_order(dataset.kind))
    sql = f"COPY ({select} WHERE {where} ORDER BY {order}) TO STDOUT (FORMAT csv)"
    copy_insert.settle()  # psycopg's COPY: a pipeline cannot see it coming
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


def rows_by_partition_key(dataset: Dataset, frame: pl.DataFrame | None = None) -> dict[str, int]:
    """How many rows the dataset has per partition key (asset without suffix).

    From `frame` (the dataset's stored frame) when given, else from its records.
    """
    if frame is not None:
        column = types.PARTITION_COLUMN[dataset.kind]
        if not _few_values(frame, column):
            return dict(frame.group_by(partition_keys(pl.col(column))).len().rows())
        per_value = frame.group_by(column).len()
        keys = partition_keys(per_value.get_column(column))
        return dict(per_value.group_by(keys.alias("key")).agg(pl.col("len").sum()).rows())
    model = RECORD_MODELS[dataset.kind]
    key = PARTITION_KEY.format(column=types.PARTITION_COLUMN[dataset.kind])
    sql = f"SELECT {key}, count(*) FROM {model._meta.db_table} WHERE dataset_id = %s GROUP BY 1"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [dataset.pk])
        return dict(cursor.fetchall())


def bases_sharing_trade_ids(
    internal: Dataset, external: Dataset, stored_frames: tuple | None = None
) -> list[tuple[str, ...]]:
    """Groups of bases (without suffix) whose trades share an id, on either side: the book's
    trade id or exchange trade id, the exchange's trade id.

    From `stored_frames` (internal, external) when given, else from the records.
    """
    if stored_frames is not None:
        return _bases_sharing_ids_in(*stored_frames)
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


def _bases_sharing_ids_in(internal: pl.DataFrame, external: pl.DataFrame) -> list[tuple]:
    base = pl.col("base")
    ids = pl.concat([
        internal.select(base, pl.col("trade_id").alias("id")),
        external.select(base, pl.col("trade_id").alias("id")),
        internal.filter(pl.col("exchange_trade_id") != "").select(
            base, pl.col("exchange_trade_id").alias("id")
        ),
    ])  # fmt: skip
    # Hashes first: an id hash seen with two base hashes marks candidates, which are then
    # grouped by the ids themselves (a collision only adds a candidate, never loses one).
    # Sorted rather than grouped (three million hashes: 0.2 s against 1.2 s on one core): in
    # a sorted run of equal id hashes, two bases show as two neighbours that differ. Bases are
    # compared as they are (DOT and DOT.S differ) and become partition keys on the few found.
    hashed = ids.select(pl.col("id").hash().alias("h"), pl.col("base").hash().alias("b")).sort("h")
    h, b = pl.col("h"), pl.col("b")
    marked = hashed.filter((h == h.shift(1)) & (b != b.shift(1))).get_column("h").unique()
    candidates = ids.filter(pl.col("id").hash().is_in(marked.implode()))
    shared = (
        candidates.group_by("id").agg(pl.col("base").unique()).filter(pl.col("base").list.len() > 1)
    )
    keys = shared.select(pl.col("base").list.eval(partition_keys(pl.element()).unique().sort()))
    return sorted({tuple(k) for k in keys.get_column("base").to_list() if len(k) > 1})
