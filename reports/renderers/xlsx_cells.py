"""The cells of the Excel workbook's sheets, as SpreadsheetML, written into the sheet parts that
openpyxl writes.

Why not `ws.append()`: openpyxl serialises every cell as an ElementTree element (et_xmlfile, or
lxml when installed), about 8 µs a cell; a 100,000-break report has 2.4 million cells, which
made 20 s where the target is 10 s. Here a cell is one f-string from a column compiled once
(its reference letter, its openpyxl-registered style, its type), about 1 µs. openpyxl still
writes everything else of the workbook: the package, the styles, each sheet's views (frozen
panes), column widths, autofilter and drawings, and the charts. `write_sheet` lets openpyxl
write a sheet's part with an empty `<sheetData>`, then fills that element with these rows.

What a cell gains over openpyxl's own: a number is written as the shortest text that reads back
as the same float (openpyxl's "%.16g" drops the 17th digit some floats need); a carriage return
in user text survives (as `&#13;`; a raw one is read back as a line feed); a control character
XML cannot hold is written in Excel's `_xHHHH_` form instead of raising.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import islice
from math import isfinite
from typing import Any

from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from reports.renderers.common import exact, inert

# Excel's day 0 as its 1900 date system counts from 1 March 1900 on (no report is older).
_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
_EPOCH_DAY = date(1899, 12, 30)
_DAY = timedelta(days=1)

EXCEL_TEXT_LIMIT = 32_767  # characters in a cell; Excel refuses a file with longer ones

# Characters XML 1.0 cannot hold (and lone surrogates, which UTF-8 cannot), carriage return
# (which an XML reader turns into a line feed), a literal `_xHHHH_` (which Excel would decode).
_SPECIAL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\r\ud800-\udfff\ufffe\uffff]|_x[0-9A-Fa-f]{4}_"
)  # fmt: skip
_MARKUP = re.compile("[&<>]")


def _special(match: re.Match[str]) -> str:
    found = match.group()
    if found == "\r":
        return "&#13;"
    if found.startswith("_x"):
        return "_x005F" + found  # the underscore escaped: Excel shows the text as written
    if "\ud800" <= found <= "\udfff" or found in "\ufffe\uffff":
        return "\ufffd"
    return f"_x{ord(found):04X}_"


def _xml_text(text: str) -> str:
    if len(text) > EXCEL_TEXT_LIMIT:
        note = f" [cut at {EXCEL_TEXT_LIMIT:,} of {len(text):,} characters: Excel's cell limit]"
        text = text[: EXCEL_TEXT_LIMIT - len(note)] + note
    if _MARKUP.search(text):
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if _SPECIAL.search(text):
        text = _SPECIAL.sub(_special, text)
    return text


def _string(text: str) -> str:
    if text[0].isspace() or text[-1].isspace():
        return f'<is><t xml:space="preserve">{_xml_text(text)}</t></is>'
    return f"<is><t>{_xml_text(text)}</t></is>"


# A kind turns a value into the inside of its cell (None: no cell). Each kind has one cell type.


def text(value: str | None) -> str | None:
    """User or product text: inert (common.inert), always a string cell."""
    if not value:
        return None
    return _string(inert(value))


def exact_text(value: Decimal | int | None) -> str | None:
    """An amount's exact digits (common.exact) as a string cell: never a number, never inert's
    quote (a string cell "-5" is no formula)."""
    digits = exact(value)
    return f"<is><t>{digits}</t></is>" if digits else None


def amount(value: Decimal | int | None) -> str | None:
    """An amount as a number for sums and charts: the nearest float, written so it reads back
    as exactly that float. The exact digits go in the exact_text column beside it."""
    if value is None:
        return None
    number = float(value)
    return f"<v>{number!r}</v>" if isfinite(number) else None


def integer(value: int | None) -> str | None:
    return None if value is None else f"<v>{int(value)}</v>"


def moment(value: datetime | None) -> str | None:
    """An aware time as Excel's serial day number in UTC (Excel has no time zones)."""
    return None if value is None else f"<v>{(value - _EPOCH) / _DAY!r}</v>"


def day(value: date | None) -> str | None:
    return None if value is None else f"<v>{(value - _EPOCH_DAY).days}</v>"


def boolean(value: bool | None) -> str | None:
    if value is None:
        return None
    return "<v>1</v>" if value else "<v>0</v>"


Kind = Callable[[Any], str | None]
_CELL_TYPE = {text: ' t="inlineStr"', exact_text: ' t="inlineStr"', boolean: ' t="b"'}


def cell_head(column: int, style_id: int, kind: Kind) -> tuple[str, str]:
    """The two constant parts of a cell's start tag, around its row number."""
    style = f' s="{style_id}"' if style_id else ""
    return f'<c r="{get_column_letter(column)}', f'"{style}{_CELL_TYPE.get(kind, "")}>'


@dataclass(frozen=True)
class Cell:
    """One cell of a hand-laid row (the Summary sheet): its kind, openpyxl style id, value."""

    kind: Kind
    style_id: int
    value: Any


def row(number: int, cells: Sequence[Cell | None], height: float | None = None) -> str:
    """A row of cells from column A on; None leaves a column empty."""
    out = [_row_start(number, height)]
    for column, cell in enumerate(cells, 1):
        if cell is None:
            continue
        inside = cell.kind(cell.value)
        if inside is not None:
            start, end = cell_head(column, cell.style_id, cell.kind)
            out.append(f"{start}{number}{end}{inside}</c>")
    out.append("</row>")
    return "".join(out)


def _row_start(number: int, height: float | None) -> str:
    if height is None:
        return f'<row r="{number}">'
    return f'<row r="{number}" ht="{height}" customHeight="1">'


@dataclass(frozen=True)
class Column:
    """One column of a list sheet: its header, width, kind, style and how to read a line."""

    header: str
    width: float
    kind: Kind
    style_id: int
    get: Callable[[Any], Any]


def list_rows(columns: Sequence[Column], lines: Iterable[Any], first: int) -> Iterable[str]:
    """A list sheet's data rows, one per line, numbered from `first`."""
    compiled = [
        (c.get, c.kind, *cell_head(n, c.style_id, c.kind)) for n, c in enumerate(columns, 1)
    ]
    for number, line in enumerate(lines, first):
        out = [f'<row r="{number}">']
        for get, kind, start, end in compiled:
            inside = kind(get(line))
            if inside is not None:
                out.append(f"{start}{number}{end}{inside}</c>")
        out.append("</row>")
        yield "".join(out)


_EMPTY_SHEET_DATA = re.compile(r"<sheetData\s*/>|<sheetData>\s*</sheetData>")
_BATCH = 2_000  # rows per write: fewer calls, little memory


def write_sheet(ws: WriteOnlyWorksheet, rows: Iterable[str]) -> None:
    """Close `ws` (openpyxl writes its part: views, columns, autofilter, drawing; sheetData
    empty, as nothing was appended), then write the rows into that part's sheetData. Set the
    sheet's freeze panes, filter, widths and charts before: they are written at the close."""
    ws.close()
    path = ws._writer.out  # the part's file, which openpyxl puts in the package when saved
    with open(path, encoding="utf-8") as part:
        skeleton = part.read()
    found = _EMPTY_SHEET_DATA.search(skeleton)
    if found is None:
        raise RuntimeError(f"openpyxl wrote sheet {ws.title!r} without an empty sheetData")
    rows = iter(rows)
    with open(path, "w", encoding="utf-8", newline="") as part:
        part.write(skeleton[: found.start()])
        part.write("<sheetData>")
        while batch := "".join(islice(rows, _BATCH)):
            part.write(batch)
        part.write("</sheetData>")
        part.write(skeleton[found.end() :])
