"""Writing a dataset's stored, normalised records out (CSV or JSON), exact decimals as text."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from reconciliation.importers.base import COLUMNS
from reconciliation.models import Dataset
from reconciliation.models.datasets import RECORD_MODELS, file_order

FORMATS = ("csv", "json")


def plain(value) -> str:
    """A stored value as text: decimals in plain notation without trailing zeros."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def field_names(kind: str) -> list[str]:
    return [name for name in COLUMNS[kind] if name != "extra"] + ["extra"]


def records(dataset: Dataset, limit: int | None = None) -> Iterator[dict[str, str]]:
    """The dataset's records in file order as text (the first `limit`, if given)."""
    model = RECORD_MODELS[dataset.kind]
    names = field_names(dataset.kind)
    rows = model.objects.filter(dataset=dataset).order_by(*file_order(dataset.kind))
    rows = rows.values_list(*names)[:limit]
    for row in rows.iterator(chunk_size=5000):
        yield {name: plain(value) for name, value in zip(names, row, strict=True)}


def write_csv_rows(rows: Iterable[dict], fields: list[str], stream) -> int:
    """Rows as CSV with a header, formula-like text neutralised; returns how many rows."""
    writer = csv.DictWriter(stream, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(neutralised(row))
        count += 1
    return count


def csv_pieces(rows: Iterable[dict], fields: list[str], size: int = 5000) -> Iterator[str]:
    """Rows as CSV text (as write_csv_rows) in pieces of `size` rows, for a streamed response."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for count, row in enumerate(rows, start=1):
        writer.writerow(neutralised(row))
        if count % size == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_json_rows(rows: Iterable[dict], stream) -> int:
    """Rows as a JSON array, streamed one object a line; returns how many rows."""
    stream.write("[")
    count = 0
    for row in rows:
        stream.write(("," if count else "") + "\n" + json.dumps(row, ensure_ascii=False))
        count += 1
    stream.write("\n]\n")
    return count


def json_pieces(rows: Iterable[dict], size: int = 5000) -> Iterator[str]:
    """Rows as write_json_rows writes them, in pieces of `size` rows, for a streamed response."""
    lines, count = ["["], 0
    for count, row in enumerate(rows, start=1):
        lines.append(("," if count > 1 else "") + "\n" + json.dumps(row, ensure_ascii=False))
        if count % size == 0:
            yield "".join(lines)
            lines = []
    lines.append("\n]\n")
    yield "".join(lines)


def dataset_csv_pieces(dataset: Dataset) -> Iterator[str]:
    return csv_pieces(records(dataset), field_names(dataset.kind))


def dataset_json_pieces(dataset: Dataset) -> Iterator[str]:
    return json_pieces(map(_as_json, records(dataset)))


def write_csv(dataset: Dataset, stream) -> int:
    return write_csv_rows(records(dataset), field_names(dataset.kind), stream)


def _as_json(row: dict) -> dict:
    return {**row, "extra": json.loads(row["extra"]) if row["extra"] else {},
            **{name: int(row[name]) for name in ("row_number", "leg") if name in row}}  # fmt: skip


def write_json(dataset: Dataset, stream) -> int:
    return write_json_rows(map(_as_json, records(dataset)), stream)


def neutralised(row: dict[str, str]) -> dict[str, str]:
    """Text that a spreadsheet would run as a formula is prefixed with a quote (numbers stay)."""
    safe = {}
    for name, value in row.items():
        if value[:1] in ("=", "+", "@", "\t", "\r", "\0") or (
            value[:1] == "-" and not _is_number(value)
        ):
            value = "'" + value
        safe[name] = value
    return safe


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True
