"""Frames kept in PostgreSQL as compressed Arrow IPC bytes (dataset copies, matches, parts).

psycopg's own cursor binds on the server, so bytes travel as binary parameters and results;
Django's cursors bind on the client, which would send and receive them as escaped text twice
their size.
"""

from __future__ import annotations

import io
from contextlib import contextmanager

import polars as pl
import psycopg
from django.db import connection

from config import copy_insert


def encode(frame: pl.DataFrame, compression: str = "lz4") -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression=compression)
    return buffer.getvalue()


def decode(data, columns: list[str] | None = None) -> pl.DataFrame:
    """The frame, or only `columns` of it (the others are not even decompressed)."""
    return pl.read_ipc(io.BytesIO(bytes(data)), columns=columns, memory_map=False)


@contextmanager
def binary_cursor():
    """A cursor on Django's connection (and its transaction) that passes bytes as they are."""
    copy_insert.settle()  # (its queries bypass Django's cursor, which a pipeline watches)
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        yield cursor
