"""A run's trade matches: written once as compressed columnar chunks, read page by page.

A trades run of a million fills records about a million matches. As table rows they took
seconds to parse and index; as chunks of CHUNK_ROWS matches (Arrow IPC, lz4) in match id order
they take a fraction of a second, and a page by match id still reads only the chunks whose id
range covers it: one for a whole run, about one per part for a split run, whose parts each
write their own chunks. Match ids are ordered by their bytes (collation "C") everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from reconciliation import arrow_bytes
from reconciliation.engine import types

COLUMNS = {
    "match_id": pl.String, "rule": pl.String, "account": pl.String, "pair": pl.String,
    "side": pl.String, "internal_ids": pl.List(pl.String), "external_ids": pl.List(pl.String),
    "internal_quantity": types.DECIMAL, "external_quantity": types.DECIMAL,
    "internal_price": types.DECIMAL, "external_price": types.DECIMAL,
    "internal_fee": types.DECIMAL, "external_fee": types.DECIMAL,
    "internal_fee_asset": pl.String, "external_fee_asset": pl.String,
}  # fmt: skip
CHUNK_ROWS = 10_000
TABLE = "reconciliation_matchchunk"

INSERT = f"""
INSERT INTO {TABLE} (run_id, part, number, first_match_id, last_match_id, match_count, data)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""  # noqa: S608 - our table


def store(cursor, run_id: int, part: int, matches: pl.DataFrame) -> int:
    """Write the matches of a run (part 0) or of one part of it; returns how many.

    The caller's transaction makes it once (it holds the run locked and checks it is unstored).
    """
    frame = matches.select(list(COLUMNS)).cast(COLUMNS)
    order = frame.get_column("match_id").arg_sort()  # sorted chunk by chunk: no sorted copy
    rows = []
    for number, start in enumerate(range(0, frame.height, CHUNK_ROWS)):
        chunk = frame[order.slice(start, CHUNK_ROWS)]
        ids = chunk.get_column("match_id")
        rows.append((run_id, part, number, ids[0], ids[-1], chunk.height,
                     arrow_bytes.encode(chunk)))  # fmt: skip
    if rows:
        with arrow_bytes.binary_cursor() as binary:
            binary.executemany(INSERT, rows)
    return frame.height


def delete(cursor, run_id: int) -> None:
    cursor.execute(f"DELETE FROM {TABLE} WHERE run_id = %s", [run_id])  # noqa: S608


@dataclass(frozen=True)
class Page:
    matches: list[dict]
    next_after: str | None  # the last match id on this page when there are more


def page(cursor, run_id: int, *, after: str = "", size: int = 100) -> Page:
    """The `size` matches with the smallest ids above `after` ("" for the first page).

    Chunks are read in the order of their first id, and reading stops once no unread chunk
    can hold an id among the smallest found: chunks of one part never overlap, so that is
    one or two chunks per part.
    """
    cursor.execute(
        f"SELECT id, first_match_id FROM {TABLE} WHERE run_id = %s AND last_match_id > %s "  # noqa: S608
        "ORDER BY first_match_id, id",
        [run_id, after],
    )
    candidates = cursor.fetchall()
    found = pl.DataFrame(schema=COLUMNS)
    for chunk_id, first in candidates:
        if found.height > size and first > found.get_column("match_id")[size]:
            break  # this chunk and all later ones start above every id we keep
        cursor.execute(f"SELECT data FROM {TABLE} WHERE id = %s", [chunk_id])  # noqa: S608
        chunk = arrow_bytes.decode(cursor.fetchone()[0]).filter(pl.col("match_id") > after)
        found = pl.concat([found, chunk]).sort("match_id").head(size + 1)
    more = found.height > size
    rows = found.head(size).to_dicts()
    return Page(rows, rows[-1]["match_id"] if more else None)


def iterate(cursor, run_id: int, size: int = CHUNK_ROWS) -> Iterator[dict]:
    """Every match of a run in match id order, a page at a time (memory stays bounded)."""
    after = ""
    while True:
        found = page(cursor, run_id, after=after, size=size)
        yield from found.matches
        if found.next_after is None:
            return
        after = found.next_after


def all_matches(cursor, run_id: int) -> pl.DataFrame:
    """Every match of a run, in match id order (exports, tests)."""
    cursor.execute(f"SELECT data FROM {TABLE} WHERE run_id = %s ORDER BY part, number", [run_id])  # noqa: S608
    chunks = [arrow_bytes.decode(data) for (data,) in cursor.fetchall()]
    if not chunks:
        return pl.DataFrame(schema=COLUMNS)
    return pl.concat(chunks).sort("match_id")
