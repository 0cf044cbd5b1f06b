"""Storing a dataset's records by COPY: the fast path PostgreSQL offers for many rows."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection

from reconciliation.models.datasets import RECORD_MODELS

COPY_BATCH_ROWS = 50_000


def copy_records(dataset_id: int, kind: str, table: pa.Table) -> None:
    """COPY the rows into the kind's record table, in batches of CSV.

    A thread renders the next batch (pyarrow releases the GIL) while this one streams the
    previous batch to the server, so rendering and the server's parsing overlap.
    """
    model = RECORD_MODELS[kind]
    names = ["dataset_id", *table.column_names]
    sql = f"COPY {model._meta.db_table} ({', '.join(names)}) FROM STDIN (FORMAT csv)"
    with ThreadPoolExecutor(max_workers=1) as renderer:
        batches = table.to_batches(max_chunksize=COPY_BATCH_ROWS)
        pending = [renderer.submit(_render_csv, dataset_id, batch, names) for batch in batches[:2]]
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for index in range(len(batches)):
                chunk = pending[index].result()
                if index + 2 < len(batches):
                    pending.append(
                        renderer.submit(_render_csv, dataset_id, batches[index + 2], names)
                    )
                pending[index] = None  # let the rendered bytes go once written
                copy.write(chunk)


def _render_csv(dataset_id: int, batch: pa.RecordBatch, names: list[str]) -> bytes:
    ids = pa.array([dataset_id] * batch.num_rows, pa.int64())
    buffer = io.BytesIO()
    pacsv.write_csv(
        pa.RecordBatch.from_arrays([ids, *batch.columns], names=names),
        buffer,
        pacsv.WriteOptions(include_header=False),
    )
    return buffer.getvalue()
