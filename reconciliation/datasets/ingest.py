"""Data in (SPEC 1): parse, validate, and store a dataset wholly or not at all.

Every door (upload page, REST API, `import_dataset`, `fetch_exchange`, the demo) comes here.
The formats a file may have are in `formats.py`; the COPY into the record tables is
`dataset_copy.py`; here the target is checked (once per import) and the dataset stored.
The same content loaded twice gives the same dataset back (`created` false); a file with any
error stores nothing and reports the first 100 errors with row, column, value and reason.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from audit import services as audit
from config.errors import DomainError
from reconciliation import export, task_queue
from reconciliation.datasets import account_fit
from reconciliation.datasets.formats import (  # noqa: F401 (the doors' names, kept here)
    API_FORMATS,
    FORMATS,
    Format,
    UnknownFormat,
    format_named,
    stored_format,
)
from reconciliation.datasets.storage import copy_records
from reconciliation.importers import base, chunks, reading, spreadsheet
from reconciliation.importers.assets import aliases_for
from reconciliation.importers.base import FileRejected, Parsed, RowErrors
from reconciliation.models import Account, AssetAlias, Dataset, Source

logger = logging.getLogger(__name__)

TIME_COLUMN = {
    "balances": "as_of",
    "trades": "executed_at",
    "ledger": "occurred_at",
    "prices": "as_of",
    "margin": "as_of",
    "pnl": "period_end",
}


class DatasetRejected(DomainError):
    """The input cannot be loaded; `fields` holds the row errors."""

    code = "dataset_rejected"

    def __init__(self, message: str, errors: RowErrors | None = None):
        errors = errors or RowErrors()
        listed = [error.as_dict() for error in errors.first()]
        super().__init__(message, fields={"errors": listed, "error_count": errors.total})
        self.errors = errors


class TargetRefused(DatasetRejected):
    """The file may be fine, but not for this source or account (pages show it on the form)."""


class DatasetNotStored(DatasetRejected):
    """The database failed while storing; the transaction rolled back, so nothing was kept."""

    code = "dataset_not_stored"
    retry_later = True


# SQLSTATE classes in which the database refuses the data itself (a value, a constraint):
# trying again will not help. Anything else (a full disk, a lost connection) may pass.
REFUSED_DATA = ("22", "23")


@contextmanager
def _storing() -> Iterator[None]:
    """Turn a database error while storing into DatasetNotStored (the door's clean answer).

    Wraps the storing transaction from outside, so the error arrives after the rollback. COPY
    runs on psycopg's own cursor, whose errors Django does not wrap: both kinds are caught.
    """
    try:
        yield
    except (DatabaseError, psycopg.Error) as exc:
        logger.exception("a dataset could not be stored")
        raise _not_stored(exc) from exc


def _not_stored(exc: Exception) -> DatasetNotStored:
    cause = exc if isinstance(exc, psycopg.Error) else exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or ""
    diag = getattr(cause, "diag", None)
    reason = (getattr(diag, "message_primary", None) or str(exc) or type(exc).__name__).strip()
    refused = sqlstate[:2] in REFUSED_DATA
    error = DatasetNotStored(
        f"The database could not store the dataset ({reason.splitlines()[0]}); nothing of it "
        "was kept. The error has been logged" + ("." if refused else "; try again later.")
    )
    error.retry_later = not refused
    return error


def asset_aliases(exchange: str) -> dict[str, str]:
    """The admin-editable code -> asset map for one exchange."""
    table = {(a.exchange, a.code): a.asset for a in AssetAlias.objects.all()}
    return aliases_for(exchange, table)


def _limits() -> spreadsheet.Limits:
    return spreadsheet.Limits(
        max_entries=settings.IMPORT_XLSX_MAX_PARTS,
        max_uncompressed_bytes=settings.IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES,
    )


def check_target(source: Source, account: Account | None, fmt: Format) -> None:
    """Refuse a target the format cannot load into (checked once per import, by every door)."""
    if account is not None and account.source_id != source.pk:
        raise TargetRefused(f"Account {account} does not belong to source {source.code}.")
    if account is None and fmt.kind != "prices":
        raise TargetRefused(f"An account is needed to load {fmt.label}.")
    if not account_fit.takes_files_of(source, fmt.exchange):
        raise TargetRefused(account_fit.misfit(account or source, fmt.label, fmt.exchange))


def check_size(size: int) -> None:
    """Refuse a file over IMPORT_MAX_BYTES (doors call it before reading an upload)."""
    if size > settings.IMPORT_MAX_BYTES:
        raise DatasetRejected(
            f"The file is {size:,} bytes; the limit is {settings.IMPORT_MAX_BYTES:,} "
            "(IMPORT_MAX_BYTES)."
        )


def _check_size(data: bytes) -> None:
    check_size(len(data))


def _rejected(errors: RowErrors) -> DatasetRejected:
    total = errors.total
    return DatasetRejected(
        f"{total} error{'s' if total != 1 else ''} found; nothing was loaded.", errors
    )


def parse_file(
    *, source: Source, account: Account | None, format_code: str, data: bytes, filename: str
) -> Parsed:
    """Parse and validate without storing anything; raises DatasetRejected on any error."""
    fmt = format_named(format_code)
    check_target(source, account, fmt)
    return storable(_parse(source=source, account=account, fmt=fmt, data=data, filename=filename))


def storable(parsed: Parsed) -> Parsed:
    """The rows if they can be stored as they are; DatasetRejected (row by row) if not.

    `_store` calls it on every door's rows (files, posted rows, an exchange's API answers),
    so no way in can skip a check: text PostgreSQL cannot hold or a column cannot fit, control
    characters in ids, and the parser's own errors.
    """
    parsed = base.refuse_unstorable_text(parsed)
    if parsed.errors or parsed.table is None:
        raise _rejected(parsed.errors)
    return parsed


def _parse(*, source: Source, account: Account | None, fmt: Format, data: bytes, filename: str):
    _check_size(data)
    try:
        parsed = fmt.parse(
            data,
            filename=filename,
            account=account.code if account else None,
            aliases=asset_aliases(fmt.exchange or source.exchange),
            limits=_limits(),
        )
    except FileRejected as exc:
        raise DatasetRejected(exc.reason, exc.errors) from exc
    return parsed


def as_stored(parsed: Parsed, account: Account | None, limit: int) -> list[dict[str, str]]:
    """The first `limit` records as they will be stored, in export_dataset's text.

    The account filled in from the target, numbers as NUMERIC keeps them (8.69554130 is
    8.6955413), `extra` as JSON reads back: what the preview promises is what is kept.
    """
    table = _complete(parsed.table.slice(0, limit), parsed.kind, account)
    kinds = base.COLUMNS[parsed.kind]
    names = export.field_names(parsed.kind)
    return [
        {name: export.plain(_stored_value(kinds[name], row[name])) for name in names}
        for row in table.to_pylist()
    ]


def _stored_value(kind_of: str, value):
    if value is None:
        return None
    if kind_of.startswith("decimal"):
        return Decimal(value)
    if kind_of == "json":
        return json.loads(value)
    return value


def content_hash(format_code: str, data: bytes) -> str:
    """What identifies a file's content for a format (the same file twice: one dataset)."""
    return hashlib.sha256(format_code.encode() + b"\0" + data).hexdigest()


def loaded_as(
    *, source_id: int, account_id: int | None, format_code: str, content_hash: str
) -> Dataset | None:
    """The dataset a file of this content already is at that target, if it was loaded."""
    return _loaded(source_id, account_id, format_named(format_code).kind, content_hash)


def _loaded(source_id: int, account_id: int | None, kind: str, content_hash: str):
    scope = {"account_id": account_id} if account_id else {"source_id": source_id, "account": None}
    return Dataset.objects.filter(kind=kind, content_hash=content_hash, **scope).first()


@dataclass(frozen=True)
class ImportResult:
    dataset: Dataset
    created: bool


def import_file(
    *,
    source: Source,
    account: Account | None,
    format_code: str,
    data: bytes,
    filename: str = "",
    by=None,
    fence: Callable[[], None] | None = None,
) -> ImportResult:
    """Load a file as one dataset (or return the dataset it already is).

    `fence`: called inside the storing transaction once the rows are copied, before the dataset
    row and its audit entry are written; raising there stores nothing (an import job checks
    that its delivery still holds it, and locks it, so its end commits with the dataset).
    """
    fmt = format_named(format_code)
    check_target(source, account, fmt)
    digest = content_hash(format_code, data)
    existing = _existing(source, account, fmt.kind, digest)
    if existing is not None:
        return ImportResult(existing, False)
    if fmt.piece_parser is not None and len(data) > chunks.CHUNK_BYTES:
        return _import_in_pieces(
            source=source, account=account, fmt=fmt, data=data, filename=filename,
            content_hash=digest, by=by, fence=fence,
        )  # fmt: skip
    parsed = _parse(source=source, account=account, fmt=fmt, data=data, filename=filename)
    return _store(
        source=source,
        account=account,
        fmt=fmt,
        parsed=parsed,
        content_hash=digest,
        original_name=filename,
        by=by,
        fence=fence,
    )


def import_rows(
    *,
    source: Source,
    account: Account | None,
    format_code: str,
    rows: list,
    by=None,
) -> ImportResult:
    """Load rows posted as JSON objects (generic formats and prices) as one dataset."""
    fmt = format_named(format_code)
    if fmt.exchange:
        raise DatasetRejected(f"{fmt.label} is a file format; upload the file instead.")
    if not isinstance(rows, list) or not rows:
        raise DatasetRejected("`rows` must be a non-empty array of objects.")
    # Decimals (exact, from the request parser) are handed on as the text that was sent.
    text = json.dumps(rows, sort_keys=True, ensure_ascii=False, default=_plain_json)
    try:
        data = text.encode()
    except UnicodeEncodeError as exc:  # "\ud800" decodes to half a character pair
        raise DatasetRejected(
            "The rows hold an escape such as \\ud800 that is half of a character pair "
            "(a lone surrogate), not a character."
        ) from exc
    return import_file(
        source=source,
        account=account,
        format_code=format_code,
        data=data,
        filename="rows.json",
        by=by,
    )


def _plain_json(value) -> str:
    # As written where the parser kept it ("1e3" stays "1e3" and is refused like in a file).
    if isinstance(value, Decimal):
        return getattr(value, "written", None) or format(value, "f")
    return str(value)


def table_hash(format_code: str, table: pa.Table) -> str:
    """Content hash of rows that did not come from a file (API fetch, posted JSON)."""
    buffer = io.BytesIO()
    # Where the rows sit is not content (and a leg is only a row's second movement).
    placing = [name for name in ("row_number", "leg") if name in table.column_names]
    pacsv.write_csv(table.drop_columns(placing), buffer)
    return hashlib.sha256(format_code.encode() + b"\0" + buffer.getvalue()).hexdigest()


def _existing(source, account, kind, content_hash) -> Dataset | None:
    return _loaded(source.pk, account.pk if account else None, kind, content_hash)


def store(
    *,
    source: Source,
    account: Account | None,
    format_code: str,
    parsed: Parsed,
    content_hash: str | None = None,
    original_name: str = "",
    by=None,
) -> ImportResult:
    """Store rows parsed elsewhere (an exchange's API answer) as one dataset.

    The same checks as a file's: the target fits the format, and `_store` checks the rows.
    Without a `content_hash` the rows' own (`table_hash`) identifies them.
    """
    fmt = stored_format(format_code)
    check_target(source, account, fmt)
    return _store(
        source=source, account=account, fmt=fmt, parsed=parsed, content_hash=content_hash,
        original_name=original_name, by=by,
    )  # fmt: skip


def _store(
    *, source, account, fmt: Format, parsed: Parsed, content_hash: str | None, original_name: str,
    by, fence: Callable[[], None] | None = None,
) -> ImportResult:  # fmt: skip
    """Check the rows (`storable`), then store them as one dataset in one transaction, by COPY."""
    if parsed.kind != fmt.kind:
        raise ValueError(f"{fmt.code} holds {fmt.kind} records, not {parsed.kind}")
    parsed = storable(parsed)
    content_hash = content_hash or table_hash(fmt.code, parsed.table)
    format_code = fmt.code
    kind = parsed.kind
    table = _complete(parsed.table, kind, account)
    start, end = _period(table, kind)
    with _storing(), transaction.atomic():
        existing = _lock_and_find(source, account, kind, content_hash)
        if existing is not None:
            return ImportResult(existing, False)
        dataset_id = _next_dataset_id()
        copy_records(dataset_id, kind, table)
        if fence is not None:
            fence()
        dataset = _create_dataset(
            dataset_id, kind=kind, format_code=format_code, source=source, account=account,
            period=(start, end), content_hash=content_hash,
            row_count=table.num_rows, original_name=original_name, notes=parsed.notes, by=by,
        )  # fmt: skip
    return ImportResult(dataset, True)


def _lock_and_find(source, account, kind, content_hash) -> Dataset | None:
    """Queue loads of the same content (the second finds the first's dataset)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"dataset:{source.pk}:{account.pk if account else ''}:{content_hash}"],
        )
    return _existing(source, account, kind, content_hash)


def _next_dataset_id() -> int:
    # Records go in first (by COPY) and the dataset row last, once its row count is known.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('reconciliation_dataset', 'id'))")
        return cursor.fetchone()[0]


def _create_dataset(
    dataset_id, *, kind, format_code, source, account, period, content_hash, row_count,
    original_name, notes, by,
) -> Dataset:  # fmt: skip
    dataset = Dataset.objects.create(
        id=dataset_id,
        kind=kind,
        format=format_code,
        source=source,
        account=account,
        as_of=period[1],
        period_start=period[0],
        period_end=period[1],
        content_hash=content_hash,
        row_count=row_count,
        original_name=original_name[:255],
        notes=notes,
        loaded_by=audit.acting_user(by),
    )
    # A worker writes the dataset's columnar copy once the import commits (until then runs read
    # the records): the import itself stays as fast as before.
    transaction.on_commit(lambda: task_queue.prepare_frame(dataset.pk))
    audit.record(
        action="dataset.imported",
        actor=by,
        object_type="dataset",
        object_id=dataset.pk,
        after={
            "kind": kind,
            "format": format_code,
            "source": source.code,
            "account": account.code if account else None,
            "rows": row_count,
            "content_hash": content_hash,
            "file": original_name,
        },
    )
    return dataset


def _import_in_pieces(
    *, source, account, fmt: Format, data: bytes, filename: str, content_hash: str, by,
    fence: Callable[[], None] | None = None,
) -> ImportResult:  # fmt: skip
    """Parse and COPY a large file piece by piece in one transaction: memory stays bounded.

    Still all or nothing: an error in any piece rolls back the rows already copied.
    """
    _check_size(data)
    try:
        text = reading.expect_text(data, "CSV")
    except FileRejected as exc:
        raise DatasetRejected(exc.reason, exc.errors) from exc
    parse = fmt.piece_parser(asset_aliases(fmt.exchange or source.exchange))
    errors, notes, keys, rows = RowErrors(), {}, [], []
    count, period = 0, None
    with _storing(), transaction.atomic():
        existing = _lock_and_find(source, account, fmt.kind, content_hash)
        if existing is not None:
            return ImportResult(existing, False)
        dataset_id = _next_dataset_id()
        try:
            for parsed in chunks.prefetched(chunks.parsed_pieces(parse, text)):
                piece = base.refuse_unstorable_text(parsed)
                errors.total += piece.errors.total
                errors.listed.extend(piece.errors.listed)
                chunks.add_notes(notes, piece.notes)
                if errors or piece.table is None:
                    continue  # keep reading to list the errors, but store nothing more
                table = _complete(piece.table, fmt.kind, account)
                copy_records(dataset_id, fmt.kind, table)
                keys.append(table[fmt.key].combine_chunks())
                rows.append(table["row_number"].combine_chunks())
                count += table.num_rows
                period = _widen(period, pc.min_max(table[TIME_COLUMN[fmt.kind]]))
        except FileRejected as exc:
            raise DatasetRejected(exc.reason, exc.errors) from exc
        if not errors:
            chunks.check_keys(keys, rows, fmt.key, errors)
        if errors or not count:
            raise _rejected(errors)  # rolls back every piece already copied
        if fence is not None:
            fence()
        dataset = _create_dataset(
            dataset_id, kind=fmt.kind, format_code=fmt.code, source=source, account=account,
            period=period, content_hash=content_hash, row_count=count, original_name=filename,
            notes=notes, by=by,
        )  # fmt: skip
    return ImportResult(dataset, True)


def _period(table: pa.Table, kind: str) -> tuple:
    """(first, last) time of the data; PnL figures cover their periods from start to end."""
    start, end = (v.as_py() for v in pc.min_max(table[TIME_COLUMN[kind]]).values())
    if kind == "pnl":
        start = pc.min(table["period_start"]).as_py()
    return start, end


def _widen(period, min_max) -> tuple:
    low, high = min_max["min"].as_py(), min_max["max"].as_py()
    if period is None:
        return low, high
    return min(period[0], low), max(period[1], high)


def _complete(table: pa.Table, kind: str, account: Account | None) -> pa.Table:
    """Fill the account from the target where the format has none; no nulls in text columns."""
    columns = {}
    for name, kind_of in base.COLUMNS[kind].items():
        values = table[name]
        if name == "account" and account is not None and pc.any(base.blank(values)).as_py():
            values = pc.if_else(base.blank(values), pa.scalar(account.code), values)
        if kind_of in ("str", "json") and values.null_count:
            values = pc.fill_null(values, "{}" if kind_of == "json" else "")
        columns[name] = values  # unchanged columns are not copied
    return pa.table(columns)
