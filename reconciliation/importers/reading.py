"""Reading files: text checks, CSV into text columns with line numbers (no Django here).

Shared by every importer: the generic format and the exchange exports.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from reconciliation.importers.assets import malformed_assets, normalise_assets
from reconciliation.importers.base import (
    FileRejected,
    RowErrors,
    blank,
    plain_column_names,
    required_text,
)

BOM = b"\xef\xbb\xbf"
# Python's csv module refuses fields over 128 KiB by default; a long note or a long header is
# still a line we can read (and name when it is wrong). The limit is process-wide and only
# raised here; files are bounded by IMPORT_MAX_BYTES anyway.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
_SIGNATURES = [
    (b"\xff\xfe", "UTF-16 text (save it as UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (save it as UTF-8)"),
    (b"PK\x03\x04", "an XLSX or ZIP file"),
    (b"%PDF", "a PDF file"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (XLS) or Office file"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
]
# Control bytes (NUL, and C0 other than tab, LF, FF, CR) in the head of a file beyond this
# share mean it is not text. Fewer (a stray NUL in a cell) are row errors naming row and column,
# as they are further into the file, so where the NUL sits does not change what the user hears.
_BINARY_HEAD = 4096
_BINARY_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")


def what_it_looks_like(data: bytes) -> str | None:
    """A description of binary content that is not text, or None for text."""
    for signature, description in _SIGNATURES:
        if data.startswith(signature):
            return description
    head = data[:_BINARY_HEAD]
    if len(_BINARY_CONTROLS.findall(head)) > max(8, len(head) // 100):
        return "a binary file"
    return None


def expect_text(data: bytes, expected: str) -> bytes:
    """Refuse binary or non-UTF-8 content clearly; return the text without a byte-order mark."""
    if not data[:65536].strip() and not data.strip():  # the full strip only for blank heads
        raise FileRejected("The file is empty.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected("The file is UTF-16 text: save it as UTF-8 (CSV UTF-8).")
    looks_like = what_it_looks_like(data)
    if looks_like:
        raise FileRejected(f"The file is {looks_like}, not {expected}.")
    if data.startswith(BOM):
        data = data[len(BOM) :]
    data = lf_line_ends(data)
    try:
        _check_utf8(data)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileRejected(
            f"The file is not UTF-8 text (line {line}, byte {exc.start}): "
            "save it as UTF-8 (CSV UTF-8 in spreadsheet programs)."
        ) from exc
    return data


def lf_line_ends(data: bytes) -> bytes:
    """Lone CRs (classic Mac OS and some Excel exports end lines with CR only) as LF.

    Everything after (line numbers, pieces of large files, the header's line) counts LF, so
    a CR-only file would otherwise be one long line. CRLF stays as it is. Two counts (fast
    scans in C) decide; a copy is made only when a lone CR is present.
    """
    carriage = data.count(b"\r")
    if not carriage or carriage == data.count(b"\r\n"):
        return data
    if b"\n" not in data:
        return data.replace(b"\r", b"\n")
    return re.sub(rb"\r(?!\n)", b"\n", data)


def _check_utf8(data: bytes, block: int = 8 << 20) -> None:
    """Raise UnicodeDecodeError (with an absolute offset) unless `data` is UTF-8.

    Checked block by block with an incremental decoder, so a large file is never held twice.
    """
    import codecs

    if data.isascii():
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), block):
        try:
            decoder.decode(view[start : start + block], final=start + block >= len(data))
        except UnicodeDecodeError as exc:
            raise UnicodeDecodeError(
                exc.encoding, data, start + exc.start, start + exc.end, exc.reason
            ) from None


def refuse_missing(what: str, missing: list[str], found: list[str]) -> None:
    """Refuse a file without the columns its format needs, naming them and what it has."""
    if missing:
        raise FileRejected(
            f"This is not {what}: missing column(s) {', '.join(missing)}. "
            f"Found: {', '.join(found)}."
        )


def header_at(data: bytes, line_index: int) -> list[str]:
    """The column names on line `line_index` (0-based) of CSV text."""
    end = -1
    for _ in range(line_index + 1):  # decode only up to the header, not the whole file
        end = data.find(b"\n", end + 1)
        if end < 0:
            end = len(data)
            break
    text = io.StringIO(data[: end + 1].decode("utf-8", errors="replace"))
    for index, row in enumerate(csv.reader(text)):
        if index == line_index:
            return [name.strip() for name in row]
    raise FileRejected("The file has no header line.")


def read_csv_strings(data: bytes, *, header_line: int = 0) -> tuple[pa.Table, pa.Array]:
    """Every column as text ('' for empty), and each row's line number in the file.

    `header_line` is the 0-based line of the header (after any preamble). Quoted fields may hold
    commas. Column names are kept as written (trimmed); an empty name becomes `_column_N`.
    """

    names = header_at(data, header_line)
    if not any(names):
        raise FileRejected(f"Line {header_line + 1} should be the header, but it is blank.")
    plain_column_names(names)
    names = [name or f"_column_{index + 1}" for index, name in enumerate(names)]
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise FileRejected(f"The header names a column twice: {', '.join(repeated)}.")
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(
                skip_rows=header_line + 1, column_names=names, block_size=16 << 20
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise FileRejected(_csv_problem(data, len(names), exc)) from exc
    if table.num_rows == 0:
        raise FileRejected("The file has a header but no data rows.")
    return table, _line_numbers(data, header_line, table.num_rows)


def _line_numbers(data: bytes, header_line: int, count: int) -> pa.Array:
    """1-based file lines of the data rows. Blank lines are skipped by the reader, so where
    the file has any, the numbers come from the real line positions."""
    first = header_line + 2
    if b"\n\n" not in data and b"\n\r\n" not in data:
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        if lines - first + 1 != count:
            raise FileRejected(_line_break_in_value(data, header_line))
        return pa.array(range(first, first + count), pa.int64())
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    starts = np.concatenate(([0], ends + 1))
    ends = np.concatenate((ends, [len(raw)]))
    lengths = ends - starts
    carriage = (lengths == 1) & (raw[np.minimum(starts, len(raw) - 1)] == 13)
    filled = np.flatnonzero((lengths > 0) & ~carriage) + 1  # 1-based numbers of non-blank lines
    after_header = filled[filled >= first]
    if len(after_header) != count:
        raise FileRejected(_line_break_in_value(data, header_line))
    return pa.array(after_header, pa.int64())


def _line_break_in_value(data: bytes, header_line: int) -> str:
    """Name the line where a quoted value runs on to the next line (the reader joined them).

    Rows are lines here: row numbers, large files' pieces and `extra` all rely on it.
    """
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    previous = 0
    for _ in reader:
        if reader.line_num - previous > 1 and reader.line_num > header_line + 1:
            return (
                f"The file is not valid CSV here: the value on line {previous + 1} holds a line "
                "break (inside quotes). Each row must be on one line: remove the line breaks "
                "from the cells."
            )
        previous = reader.line_num
    return "The file is not valid CSV: a quoted value holds a line break."


def _csv_problem(data: bytes, width: int, exc: Exception) -> str:
    """Say which line breaks the CSV (the slow scan runs only when reading failed)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace")))
    for index, row in enumerate(reader):
        if row and len(row) != width:
            return (
                f"The file is not valid CSV: line {reader.line_num} has {len(row)} fields, "
                f"the header has {width}. Check for a missing or extra comma, or an unquoted "
                "value containing a comma."
            )
        if index > 5_000_000:
            break
    return f"The file is not valid CSV: {_arrow_reason(exc)}"


def _arrow_reason(exc: Exception) -> str:
    text = str(exc)
    if "Expected" in text and "columns" in text:
        return text.split("\n")[0].replace("CSV parse error: ", "")
    return text.split("\n")[0]


def require_columns(table: pa.Table, required: list[str], what: str) -> None:
    missing = [name for name in required if name not in table.column_names]
    refuse_missing(what, missing, table.column_names)


# --- Exchange exports ---------------------------------------------------------------------


def read_export(data: bytes, what: str, *, header_line: int = 0) -> tuple[pa.Table, pa.Array]:
    """`expect_text` + `read_csv_strings`, tolerant of one trailing empty column.

    Some exports end the header with an empty-named column the rows do not have (Kraken L2b),
    or end every row with a comma the header lacks. Both are retried once with the header
    adjusted; an empty-named column holding nothing at all is then dropped.
    """
    data = expect_text(data, what)
    try:
        table, rows = read_csv_strings(data, header_line=header_line)
    except FileRejected as exc:
        fixed = _adjust_header(data, header_line, exc.reason)
        if fixed is None:
            raise
        table, rows = read_csv_strings(fixed, header_line=header_line)
    for name in list(table.column_names):
        if re.fullmatch(r"_column_[0-9]+", name) and pc.all(blank(table[name])).as_py():
            table = table.drop_columns([name])
    return table, rows


def _adjust_header(data: bytes, header_line: int, reason: str) -> bytes | None:
    found = re.search(r"has ([0-9]+) fields, the header has ([0-9]+)", reason)
    if not found:
        return None
    got, expected = int(found.group(1)), int(found.group(2))
    lines = data.split(b"\n", header_line + 1)
    if header_line >= len(lines):
        return None
    header = lines[header_line]
    ending = b"\r" if header.endswith(b"\r") else b""
    header = header.rstrip(b"\r")
    trailing_empty = rb',\s*("")?\s*$'
    if got == expected - 1 and re.search(trailing_empty, header):
        header = re.sub(trailing_empty, b"", header)
    elif got == expected + 1:
        header += b","
    else:
        return None
    lines[header_line] = header + ending
    return b"\n".join(lines)


def has_control_characters(data: bytes) -> bool:
    """True if any byte below 0x20 other than CR and LF occurs (vectorised with numpy)."""
    codes = np.frombuffer(data, np.uint8)
    step = 1 << 22
    for start in range(0, len(codes), step):
        chunk = codes[start : start + step]
        low = chunk[chunk < 32]
        if np.any((low != 10) & (low != 13)):
            return True
    return False


def lower_names(table: pa.Table) -> pa.Table:
    """Column names lower-cased, so `TxID` and `txid` are the same column."""
    names = [name.lower() for name in table.column_names]
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise FileRejected(f"The header names a column twice: {', '.join(repeated)}.")
    return table.rename_columns(names)


def require(table: pa.Table, required: list[str], what: str) -> None:
    missing = [name for name in required if name not in table.column_names]
    refuse_missing(what, missing, table.column_names)


def column(table: pa.Table, name: str) -> pa.Array:
    return table.column(name).combine_chunks()


def asset_codes(values: pa.Array, rows: pa.Array, name: str, aliases, errors: RowErrors):
    """Required asset codes, normalised through the aliases, with an error where implausible."""
    values = required_text(values, rows, name, errors)
    assets = normalise_assets(values, aliases)
    errors.add_mask(
        pc.and_(malformed_assets(assets), pc.invert(blank(values))), rows, values, name,
        "not a valid asset code",
    )  # fmt: skip
    return assets


# --- ledgers.csv --------------------------------------------------------------------------------
