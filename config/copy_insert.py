"""Inserting many model instances at once with COPY, their primary keys drawn beforehand.

`bulk_create` renders one parameter per value and PostgreSQL parses them as SQL: 100,000
corrections of forty columns took seconds. COPY streams the rows as text instead; the ids come
from the table's own sequence first (one query), so callers get instances with their keys, as
from `bulk_create`. Fields are prepared as Django would (defaults, `auto_now_add`, JSON).
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring, encode_basestring_ascii
from operator import attrgetter

import psycopg
from django.db import connection
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter


class JsonText(str):
    """A value already serialised as JSON: stored as this text, not serialised again."""


def insert_rows(model, rows: list, *, ids_reserved: bool = False) -> list:
    """INSERT plain objects holding `model`'s columns by attribute name (missing ones take the
    field's default) with COPY; each gets its `pk` (`ids_reserved`: each has it already, from
    `reserve_ids`). Other attributes are left alone."""
    if not rows:
        return rows
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [meta.pk, *fields])
    now = timezone.now()
    if not ids_reserved:
        reserve_ids(model, rows)

    def batches():
        # Batch by batch, so the server stores one while the next is rendered; column by
        # column, one comprehension per column instead of a call per value.
        for start in range(0, len(rows), BATCH_ROWS):
            batch = rows[start : start + BATCH_ROWS]
            texts = [[str(row.pk) for row in batch],
                     *(_column(field, batch, now) for field in fields)]  # fmt: skip
            yield "\n".join(map("\t".join, zip(*texts, strict=True))) + "\n"

    _stream(table, columns, batches(), len(rows))
    return rows


def reserve_ids(model, rows: list) -> list:
    """Draw a primary key for each of `rows` from `model`'s table sequence (one query): what
    refers to them can be written before they are."""
    meta = model._meta
    sql = "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)"
    params = [meta.db_table, meta.pk.column, len(rows)]
    pipeline = _pipeline.get()
    if pipeline is not None:
        keys = pipeline.side_query(sql, params)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            keys = cursor.fetchall()
    for row, (pk,) in zip(rows, keys, strict=True):
        row.pk = row.id = pk
    return rows


def copy_lines(model, columns, lines: list[str]) -> None:
    """COPY lines already rendered (each ending in a newline) into `columns` of `model`'s
    table, a batch at a time, as `insert_rows` sends its own."""
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    names = ", ".join(connection.ops.quote_name(meta.get_field(c).column) for c in columns)
    chunks = ("".join(lines[start : start + BATCH_ROWS])
              for start in range(0, len(lines), BATCH_ROWS))  # fmt: skip
    _stream(table, names, chunks, len(lines))


def _stream(table: str, columns: str, chunks, rows: int) -> None:
    """COPY the text `chunks` into `table`. With more than a batch, a writer thread sends them:
    this one renders the next chunk while the server stores the last (the send waits on the
    socket without holding the GIL). In a `pipelined` block, the pipeline's thread sends them
    after what was queued before, and this one goes on."""
    pipeline = _pipeline.get()
    if pipeline is not None:
        pipeline.copy(f"COPY {table} ({columns}) FROM STDIN", list(chunks))
        return
    with connection.cursor() as cursor:
        writer = QueuedLibpqWriter(cursor.cursor) if rows > BATCH_ROWS else None
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN", writer=writer) as copy:
            for chunk in chunks:
                copy.write(chunk)


@contextmanager
def pipelined():
    """Send the block's COPYs (`insert_rows`, `copy_lines`) from one thread, in order, while this
    one goes on building and rendering the next: the server stores one part of a large write
    while Python prepares the next, instead of each waiting for the other.

    Inside the caller's transaction. Any other query of the block first waits for the COPYs
    queued before it (so it sees them, and never shares the connection with them); ids are
    reserved on a second connection meanwhile (a sequence is outside transactions). A COPY that
    fails is raised by the next query, or when the block ends; nothing after it is sent."""
    if not connection.in_atomic_block:
        raise RuntimeError("a pipeline of COPYs belongs inside the transaction it writes")
    if _pipeline.get() is not None:
        yield _pipeline.get()  # already inside one: its order holds
        return
    pipeline = _Pipeline()
    token = _pipeline.set(pipeline)
    try:
        with _quick_switching(), connection.execute_wrapper(pipeline.before_query):
            yield pipeline
            pipeline.drain()
    except BaseException as error:
        pipeline.abandon()  # the transaction is lost: what is still queued is not sent
        pipeline.close()
        # What failed first is the cause: a COPY's error, rather than the refusal of whatever
        # the caller sent after it in the lost transaction (or the caller's own, chained).
        if pipeline.failure is not None and pipeline.failure is not error:
            raise pipeline.failure from error
        raise
    else:
        pipeline.close()
    finally:
        _pipeline.reset(token)


def settle() -> None:
    """Wait for the current pipeline's COPYs, if one runs, and raise what failed: for code
    that uses the connection without Django's cursor `execute` (psycopg's own COPY or binary
    cursor), which the pipeline cannot see coming."""
    pipeline = _pipeline.get()
    if pipeline is not None:
        pipeline.drain()


@contextmanager
def _quick_switching():
    """Python's switch interval at 0.5 ms while any pipeline of the process runs (the first to
    start lowers it, the last to end restores it). The sending thread needs the GIL back after
    each 128 kB the socket takes; the thread busy building would keep it up to 5 ms each time
    (the default), which left the server waiting for a second of a run's ten."""
    global _switching_pipelines, _switch_interval_before
    with _switching:
        if _switching_pipelines == 0:
            _switch_interval_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_interval_before, 0.0005))
        _switching_pipelines += 1
    try:
        yield
    finally:
        with _switching:
            _switching_pipelines -= 1
            if _switching_pipelines == 0:
                sys.setswitchinterval(_switch_interval_before)


_switching = threading.Lock()
_switching_pipelines = 0
_switch_interval_before = sys.getswitchinterval()


class ForeignKeysCheckedNow:
    """Within the block, check the deferrable foreign keys from `models`' tables at the end of
    each statement instead of at commit: a pipeline's server then checks each part while the
    next is built (checked at commit, a hundred thousand rows' checks keep everything waiting).

    At first only those to tables the block does not write: their rows are all there, so the
    server plans each check against the table as it is. A check is planned when first run and
    its plan kept, so a check to a table the block makes grow, planned while it was small,
    would scan it however large it grows: those wait for `check_the_rest_now`, which the caller
    calls once the block has written a good part of what it writes (pending checks run then)."""

    def __init__(self, models):
        self._tables = tuple(model._meta.db_table for model in models)
        self._now: list[str] = []
        self._rest: list[str] = []

    def __enter__(self):
        self._now, self._rest = _deferrable_foreign_keys(self._tables)
        _set_constraints(self._now, "IMMEDIATE")
        return self

    def check_the_rest_now(self) -> None:
        """The keys between tables the block writes, from now on at each statement too (sent
        after the COPYs queued, in a pipeline)."""
        rest, self._rest = self._rest, []
        self._now += rest
        _set_constraints(rest, "IMMEDIATE")

    def __exit__(self, kind, error, traceback) -> None:
        # After a failure the savepoint or transaction rolls back, which restores the mode.
        if kind is None:
            _set_constraints(self._now, "DEFERRED")


def _set_constraints(names: list[str], mode: str) -> None:
    if not names:
        return
    listed = ", ".join(connection.ops.quote_name(name) for name in names)
    statement = f"SET CONSTRAINTS {listed} {mode}"
    pipeline = _pipeline.get()
    if pipeline is not None:
        pipeline.execute(statement)  # in its order, not ahead of the COPYs queued
        return
    with connection.cursor() as cursor:
        cursor.execute(statement)


def _deferrable_foreign_keys(tables: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The deferrable foreign keys from `tables`: (to other tables, between them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, confrelid = ANY(%s::regclass[]) FROM pg_constraint "
            "WHERE contype = 'f' AND condeferrable AND conrelid = ANY(%s::regclass[]) "
            "ORDER BY conname",
            ["{" + ",".join(tables) + "}"] * 2,
        )
        keys = cursor.fetchall()
    return [name for name, within in keys if not within], [name for name, within in keys if within]


class _Pipeline:
    # A few chunks ahead at most: rendered text waits in memory until it is sent.
    AHEAD = 4

    def __init__(self):
        connection.ensure_connection()
        self._raw = connection.connection
        self._jobs: queue.Queue = queue.Queue(maxsize=self.AHEAD)
        self._error: BaseException | None = None
        self._abandoned = False
        self._side = None
        self._thread = threading.Thread(target=self._send, name="copy-pipeline", daemon=True)
        self._thread.start()

    def copy(self, statement: str, chunks: list[str]) -> None:
        self._raise_failure()
        self._jobs.put((statement, chunks))

    def execute(self, statement: str) -> None:
        """A statement with no result, sent in turn after what is queued."""
        self._raise_failure()
        self._jobs.put((statement, None))

    def drain(self) -> None:
        """Wait until everything queued is stored; raise what failed."""
        self._jobs.join()
        self._raise_failure()

    def before_query(self, execute, sql, params, many, context):
        self.drain()
        return execute(sql, params, many, context)

    def side_query(self, sql: str, params) -> list[tuple]:
        """Rows of a query that needs nothing this transaction wrote (drawing ids from a
        sequence), on a second connection: it does not wait for the COPYs queued."""
        if self._side is None:
            settings = connection.get_connection_params()
            # A sequence locked by the transaction itself (an ALTER) would block this one for
            # ever, unseen as a deadlock: a clear error after a while instead.
            settings["options"] = f"{settings.get('options', '')} -c lock_timeout=30s".strip()
            self._side = psycopg.connect(**settings, autocommit=True)
        return self._side.execute(sql, params).fetchall()

    def abandon(self) -> None:
        self._abandoned = True

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._jobs.put(None)
        self._thread.join()
        if self._side is not None:
            self._side.close()

    @property
    def failure(self) -> BaseException | None:
        return self._error

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self, statement: str, chunks: list[str] | None) -> None:
        with self._raw.cursor() as cursor:
            if chunks is None:
                cursor.execute(statement)
                return
            with cursor.copy(statement) as copy:
                for chunk in chunks:
                    copy.write(chunk)

    def _send(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if self._error is None and not self._abandoned:  # else the transaction is lost
                    self._run(*job)
            except BaseException as error:  # raised in the caller's thread
                self._error = error
            finally:
                self._jobs.task_done()
        self._jobs.task_done()


_pipeline: ContextVar[_Pipeline | None] = ContextVar("copy_pipeline", default=None)


def int_array(values) -> str:
    """Integers as a PostgreSQL array literal, for `%s::bigint[]`: psycopg adapts a list value
    by value (tens of thousands of ids took seconds); integers need no quoting."""
    return "{" + ",".join(str(int(value)) for value in values) + "}"


BATCH_ROWS = 5000
# COPY's text format: a tab between values, \N for null, backslash escapes inside values.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def text(value) -> str:
    """A value of any type as COPY text (rendered here: psycopg's write_row adapts each value in
    Python, several times slower for a hundred thousand rows of forty columns)."""
    if value is None:
        return NULL
    if isinstance(value, str):
        return escaped(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return escaped(str(value))  # a UUID, an IP address


def escaped(value: str) -> str:
    """A text as a COPY value. Most hold nothing to escape: four scans cost less than a
    translate."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _column(field, rows: list, now) -> list[str]:
    """The COPY texts of `field` for every row, by the field's type where it is known (a value
    of another type, as a caller may hand one, is rendered by `_text`)."""
    values = _values(field, rows, now)
    if len(values) > 1 and values.count(values[0]) == len(values):
        # The same value in every row (a run's id, a batch's time, an empty text): rendered
        # once. Equal values store the same in the column's type (1.0 and 1.00 as numeric).
        return _rendered(field, values[:1]) * len(values)
    return _rendered(field, values)


def _rendered(field, values: list) -> list[str]:
    kind = field.get_internal_type()
    if field.is_relation:  # a foreign key's column holds its target's key
        kind = field.target_field.get_internal_type()
    if kind in _STRINGS or kind == "JSONField":
        return [escaped(v) if type(v) is str or type(v) is JsonText else text(v) for v in values]
    if kind in _INTEGERS:
        return [str(v) if type(v) is int else text(v) for v in values]
    if kind == "DecimalField":
        return [format(v, "f") if type(v) is Decimal else text(v) for v in values]
    if kind == "DateTimeField":
        # A batch's times are mostly the same few moments (now, a run's as-of): each once.
        seen: dict = {}
        return [seen[v] if v in seen else seen.setdefault(v, text(v)) for v in values]
    if kind == "BooleanField":
        return [("t" if v else "f") if type(v) is bool else text(v) for v in values]
    return [text(v) for v in values]


_STRINGS = {"CharField", "TextField", "SlugField", "EmailField", "URLField"}
_INTEGERS = {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField",
             "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField",
             "PositiveSmallIntegerField"}  # fmt: skip


def _values(field, rows: list, now) -> list:
    """The field's value of every row (missing: its default; JSON serialised)."""
    name = field.attname
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return [getattr(row, name, None) or now for row in rows]
    default = field.get_default()  # "" for text without a default, None where nullable
    try:
        values = list(map(attrgetter(name), rows))  # a C loop; rows may lack the attribute
    except AttributeError:
        values = [getattr(row, name, default) for row in rows]
    if field.get_internal_type() == "JSONField":
        encode = _json_writer((field.encoder or json.JSONEncoder)())
        return [v if v is None or type(v) is JsonText else encode(v) for v in values]
    return values


def _json_writer(encoder: json.JSONEncoder):
    """`encoder.encode`, with its C encoder made once rather than per value (what `encode` does
    on each call), where the encoder class leaves encoding to the standard machinery."""
    cls = type(encoder)
    standard = (
        cls.encode is json.JSONEncoder.encode and cls.iterencode is json.JSONEncoder.iterencode
    )
    if c_make_encoder is None or not standard or encoder.indent is not None:
        return encoder.encode
    strings = encode_basestring_ascii if encoder.ensure_ascii else encode_basestring
    make = c_make_encoder(None, encoder.default, strings, None, encoder.key_separator,
                          encoder.item_separator, encoder.sort_keys, encoder.skipkeys,
                          encoder.allow_nan)  # fmt: skip
    return lambda value: strings(value) if isinstance(value, str) else "".join(make(value, 0))
