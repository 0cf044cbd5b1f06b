"""Reading the first sheet of an XLSX workbook as text, safely.

Before openpyxl opens a workbook, its zip directory is checked: a few hundred kilobytes can
unpack to gigabytes (a decompression bomb). openpyxl parses XML through defusedxml when it is
installed (it is), which stops entity-expansion attacks. Formula cells are refused: a book is
loaded from values, not from what a spreadsheet would compute. A number cell is an IEEE double;
it is exact only up to 15 significant digits, so longer numbers must be typed as text cells.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time

import pyarrow as pa

from reconciliation.importers.base import FileRejected, RowErrors

EXACT_DIGITS = 15


@dataclass(frozen=True)
class Limits:
    max_entries: int = 1000
    max_uncompressed_bytes: int = 256 * 1024 * 1024
    max_ratio: int = 200  # uncompressed / compressed, per entry


def check_zip(data: bytes, limits: Limits) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    # A damaged directory can also claim a zip version or a size zipfile does not handle.
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError, OSError) as exc:
        raise FileRejected("The file is not a valid XLSX workbook (damaged zip).") from exc
    entries = archive.infolist()
    if len(entries) > limits.max_entries:
        raise FileRejected(f"The workbook has {len(entries)} parts; at most {limits.max_entries}.")
    total = sum(entry.file_size for entry in entries)
    if total > limits.max_uncompressed_bytes:
        raise FileRejected(
            f"The workbook unpacks to {total:,} bytes, more than the limit of "
            f"{limits.max_uncompressed_bytes:,}: refused as a possible decompression bomb."
        )
    for entry in entries:
        ratio = entry.file_size // max(entry.compress_size, 1)
        if entry.file_size > 1_000_000 and ratio > limits.max_ratio:
            raise FileRejected(
                f"The workbook part {entry.filename} is compressed {ratio} times: "
                "refused as a possible decompression bomb."
            )
    if "xl/workbook.xml" not in {entry.filename for entry in entries}:
        raise FileRejected("The file is a zip archive but not an XLSX workbook.")


def _cell_text(value, row: int, column: str, errors: RowErrors) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        if value.startswith("="):
            errors.add(row, column, value, "formula cells are not accepted: paste values only")
            return ""
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        digits = text.split("e")[0].replace("-", "").replace(".", "").lstrip("0")
        if "e" in text or len(digits) > EXACT_DIGITS:
            errors.add(
                row, column, text,
                f"a number cell holds at most {EXACT_DIGITS} exact digits: type it as text",
            )  # fmt: skip
            return ""
        return text
    if isinstance(value, datetime | date | time):
        errors.add(
            row, column, str(value),
            "date cells have no time zone: write the time as text, e.g. 2026-01-31T23:59:59Z",
        )  # fmt: skip
        return ""
    return str(value)


def read_first_sheet(data: bytes, limits: Limits) -> tuple[pa.Table, pa.Array]:
    """The first sheet: row 1 is the header, every later non-empty row a record (as text)."""
    from openpyxl import load_workbook

    check_zip(data, limits)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for damaged books
        raise FileRejected(f"The workbook cannot be read: {exc}") from exc
    try:
        return _read_rows(workbook)
    except FileRejected:
        raise
    except Exception as exc:  # read-only mode meets a damaged sheet (XML, zip) only while reading
        raise FileRejected(f"The workbook cannot be read: {exc}") from exc
    finally:
        workbook.close()


def _read_rows(workbook) -> tuple[pa.Table, pa.Array]:
    """Row 1 as the header, every later non-empty row as text."""
    sheet = workbook.worksheets[0]
    errors = RowErrors()
    lines = sheet.iter_rows(values_only=True)
    header = next(lines, None)
    if header is None or not any(cell is not None for cell in header):
        raise FileRejected("The first sheet has no header row.")
    names = [str(cell).strip() if cell is not None else "" for cell in header]
    while names and not names[-1]:
        names.pop()
    names = [name or f"_column_{index + 1}" for index, name in enumerate(names)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FileRejected(f"The header names a column twice: {', '.join(repeated)}.")
    columns: dict[str, list[str]] = {name: [] for name in names}
    rows: list[int] = []
    for number, line in enumerate(lines, start=2):
        if not any(cell not in (None, "") for cell in line):
            continue
        rows.append(number)
        for index, name in enumerate(names):
            value = line[index] if index < len(line) else None
            columns[name].append(_cell_text(value, number, name, errors))
    if errors:
        raise FileRejected("The workbook has cells that cannot be loaded exactly.", errors)
    if not rows:
        raise FileRejected("The first sheet has a header but no data rows.")
    table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    return table, pa.array(rows, pa.int64())
