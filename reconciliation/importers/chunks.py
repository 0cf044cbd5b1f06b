"""Parsing a large CSV export in pieces, so memory stays bounded (no Django here).

The file is cut at line ends into pieces of about `CHUNK_BYTES`; each piece gets the header
and goes through the format's parser; row numbers are shifted back to lines of the whole file.
Only for formats whose rows are independent of each other, with the header on the first line
and no line breaks inside values. Keys that must be unique across the file are checked by the
caller on the collected key column (`check_keys`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from reconciliation.importers.base import FileRejected, Parsed, RowError, RowErrors, duplicates
from reconciliation.importers.reading import BOM

CHUNK_BYTES = 8 << 20


def pieces(data: bytes, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) byte ranges of whole lines after the header line."""
    start = data.find(b"\n") + 1
    while 0 < start < len(data):
        end = data.find(b"\n", start + size)
        end = len(data) if end < 0 else end + 1
        yield start, end
        start = end


def parsed_pieces(
    parse: Callable[[bytes], Parsed], data: bytes, *, size: int | None = None
) -> Iterator[Parsed]:
    """Each piece parsed, with row numbers (in its table and its errors) of the whole file."""
    size = size or CHUNK_BYTES
    if data.startswith(BOM):
        data = data[len(BOM) :]
    header = data[: data.find(b"\n") + 1]
    lines_before = 0
    found = False
    for start, end in pieces(data, size):
        if not data[start:end].strip():  # only blank lines left at the end of the file
            lines_before += data.count(b"\n", start, end)
            continue
        parsed = parse(header + data[start:end])
        errors = RowErrors(total=parsed.errors.total)
        for error in parsed.errors.listed:
            row = error.row + lines_before if error.row else 0
            errors.listed.append(RowError(row, error.column, error.value, error.reason))
        table = parsed.table
        if table is not None:
            index = table.column_names.index("row_number")
            table = table.set_column(index, "row_number", pc.add(table["row_number"], lines_before))
        found = True
        yield Parsed(parsed.kind, table, errors, parsed.notes)
        lines_before += data.count(b"\n", start, end)
    if not found:
        raise FileRejected("The file has a header but no data rows.")


def prefetched(iterator: Iterator[Parsed]) -> Iterator[Parsed]:
    """Parse the next piece in a thread while the caller stores this one (parsing in Arrow
    releases the GIL, and the database parses COPY in its own process: both cores work)."""
    from concurrent.futures import ThreadPoolExecutor

    sentinel = object()
    with ThreadPoolExecutor(max_workers=1) as worker:
        upcoming = worker.submit(next, iterator, sentinel)
        while True:
            current = upcoming.result()
            if current is sentinel:
                return
            upcoming = worker.submit(next, iterator, sentinel)
            yield current


def add_notes(into: dict, notes: dict) -> None:
    for name, value in notes.items():
        into[name] = into.get(name, 0) + value if isinstance(value, int) else value


def check_keys(keys: list[pa.Array], rows: list[pa.Array], key: str, errors: RowErrors) -> None:
    """Duplicate keys across pieces become row errors ("duplicate of row N")."""
    if keys:
        duplicates(pa.concat_arrays(keys), pa.concat_arrays(rows), key, errors)


def parse_in_chunks(
    parse: Callable[[bytes], Parsed], data: bytes, *, key: str, size: int | None = None
) -> Parsed:
    """Parse `data` piece by piece; the same result as one call on the whole file."""
    size = size or CHUNK_BYTES
    if len(data) <= size:
        return parse(data[len(BOM) :] if data.startswith(BOM) else data)
    tables, errors, notes, kind = [], RowErrors(), {}, None
    keys, rows = [], []
    for parsed in parsed_pieces(parse, data, size=size):
        kind = parsed.kind
        errors.total += parsed.errors.total
        errors.listed.extend(parsed.errors.listed)
        add_notes(notes, parsed.notes)
        if parsed.table is not None and not errors:
            tables.append(parsed.table)
            keys.append(parsed.table[key].combine_chunks())
            rows.append(parsed.table["row_number"].combine_chunks())
    if not errors:
        check_keys(keys, rows, key, errors)
    if errors:
        return Parsed(kind, None, errors, notes)
    return Parsed(kind, pa.concat_tables(tables), errors, notes)
