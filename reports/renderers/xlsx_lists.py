"""The Excel workbook's list sheets: Breaks, Corrections, Audit and Comments, one row per line
of the content, every field a column, every amount twice (a number, then its exact text)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from reports.content import types as t
from reports.renderers import xlsx_cells as x
from reports.renderers.xlsx_styles import Styles, print_setup

EXACT_NOTE = (
    "Each amount is given twice: as a number, for sums, filters and charts (Excel holds about "
    "15 significant digits), and as text in the “(exact)” column beside it, which has every "
    "digit and is the figure of record. Times are in UTC."
)
NOTE_ROW, HEADER_ROW, FIRST_ROW = 1, 2, 3


def exact_header(header: str) -> str:
    """The header of an amount's exact column: Difference (exact), Value (USD, exact)."""
    if header.endswith(")"):
        return header[:-1] + ", exact)"
    return f"{header} (exact)"


def _joined(name: str) -> Callable[[Any], str]:
    get = attrgetter(name)
    return lambda line: ", ".join(get(line))


class _Columns:
    """Builds a sheet's columns in order, with the styles of the workbook."""

    def __init__(self, styles: Styles):
        self.styles = styles
        self.columns: list[x.Column] = []

    def add(self, header: str, width: float, kind: x.Kind, style: int, get) -> None:
        get = attrgetter(get) if isinstance(get, str) else get
        self.columns.append(x.Column(header, width, kind, style, get))

    def id(self, header: str, name: str, width: float = 10) -> None:
        self.add(header, width, x.integer, self.styles.id, name)

    def count(self, header: str, name: str, width: float = 10) -> None:
        self.add(header, width, x.integer, self.styles.count, name)

    def text(self, header: str, name, width: float = 14) -> None:
        self.add(header, width, x.text, self.styles.text, name)

    def time(self, header: str, name: str) -> None:
        self.add(f"{header} (UTC)", 20, x.moment, self.styles.time, name)

    def amount(self, header: str, name: str) -> None:
        """The amount as a number, then its exact digits as text."""
        # wide enough for 15 significant digits grouped, and for 12 + 18 exact digits
        self.add(header, 25, x.amount, self.styles.amount, name)
        self.add(exact_header(header), 34, x.exact_text, self.styles.exact, name)


def break_columns(styles: Styles, currency: str) -> list[x.Column]:
    c = _Columns(styles)
    c.id("Break", "id")
    c.id("Run", "run_id", 8)
    c.text("Type", "type", 12)
    c.text("Severity", "severity", 11)
    c.text("Status", "status", 12)
    c.text("Source", "source")
    c.text("Account", "account")
    c.text("Asset", "asset", 12)
    c.text("Entity", "entity")
    c.text("Field", "field", 12)
    c.amount("Internal value", "internal_value")
    c.amount("External value", "external_value")
    c.amount("Difference", "difference")
    c.amount(f"Value ({currency})", "value_rc")
    c.time("First seen", "first_seen_at")
    c.time("Last seen", "last_seen_at")
    c.count("Times seen", "times_seen")
    c.id("First seen in run", "first_seen_run", 11)
    c.text("Causes", _joined("causes"), 24)
    c.text("Latest comment", "comment", 48)
    return c.columns


def correction_columns(styles: Styles, currency: str) -> list[x.Column]:
    c = _Columns(styles)
    c.id("Correction", "id", 11)
    c.id("Break", "break_id")
    c.id("Run", "run_id", 8)
    c.text("Type", "type", 12)
    c.text("Asset", "asset", 12)
    c.text("Target", "target")
    c.text("Field", "field", 12)
    c.text("Operation", "operation", 11)
    c.amount("Original value", "original_value")
    c.amount("Corrected value", "corrected_value")
    c.amount("Delta", "delta")
    c.amount(f"Impact ({currency})", "impact_rc")
    c.text("Status", "status", 12)
    c.text("Origin", "origin", 11)
    c.add("Automatic", 11, x.boolean, styles.boolean, "automatic")
    c.text("Policy note", "policy_note", 28)
    c.text("Reason", "reason", 40)
    c.text("Created by", "created_by")
    c.time("Created", "created_at")
    c.text("Approvers", _joined("approvers"), 28)
    c.time("Approved", "approved_at")
    c.time("Applied", "applied_at")
    c.time("Rolled back", "rolled_back_at")
    c.time("Rejected", "rejected_at")
    c.text("Rejection reason", "rejection_reason", 40)
    return c.columns


def audit_columns(styles: Styles) -> list[x.Column]:
    c = _Columns(styles)
    c.id("Sequence", "sequence", 11)
    c.time("Time", "created_at")
    c.text("Actor", "actor", 16)
    c.text("Action", "action", 26)
    c.text("Object type", "object_type", 14)
    c.text("Object", "object_id", 12)
    c.text("Hash", "hash", 68)
    return c.columns


def comment_columns(styles: Styles) -> list[x.Column]:
    c = _Columns(styles)
    c.id("Break", "break_id")
    c.text("Author", "author", 16)
    c.time("Time", "created_at")
    c.text("Comment", "text", 80)
    return c.columns


def list_sheet(
    wb: Workbook,
    styles: Styles,
    title: str,
    note: str,
    columns: Sequence[x.Column],
    lines: Sequence[Any],
    nothing: str,
    freeze_column: int = 0,
) -> None:
    """A sheet of one note row, a header row and a row per line: the header frozen (and the
    first `freeze_column` columns), an autofilter over the header and the rows."""
    ws = wb.create_sheet(title)
    last = get_column_letter(len(columns))
    for number, column in enumerate(columns, 1):
        ws.column_dimensions[get_column_letter(number)].width = column.width
    ws.freeze_panes = f"{get_column_letter(freeze_column + 1)}{FIRST_ROW}"
    ws.auto_filter.ref = f"A{HEADER_ROW}:{last}{HEADER_ROW + len(lines)}"
    print_setup(ws, HEADER_ROW)

    def rows():
        yield x.row(NOTE_ROW, [x.Cell(x.text, styles.note, note)])
        header = [x.Cell(x.text, styles.header, c.header) for c in columns]
        yield x.row(HEADER_ROW, header, height=32)
        if not lines:
            yield x.row(FIRST_ROW, [x.Cell(x.text, styles.note, nothing)])
        yield from x.list_rows(columns, lines, FIRST_ROW)

    x.write_sheet(ws, rows())


def add_list_sheets(wb: Workbook, styles: Styles, content: t.ReportContent) -> None:
    """Breaks, Corrections, Audit and Comments, in that order (the comments have their own
    sheet: a break's latest comment is also on its row in Breaks)."""
    currency = content.reporting_currency
    head = content.chain_head
    breaks, corrections = content.breaks, content.corrections
    list_sheet(
        wb, styles, "Breaks", f"{len(breaks):,} breaks in scope. {EXACT_NOTE}",
        break_columns(styles, currency), breaks, "No breaks in this scope.", freeze_column=1,
    )  # fmt: skip
    list_sheet(
        wb, styles, "Corrections", f"{len(corrections):,} corrections in scope. {EXACT_NOTE}",
        correction_columns(styles, currency), corrections, "No corrections in this scope.",
        freeze_column=1,
    )  # fmt: skip
    chain = (
        f"Audit chain head at generation: sequence {head.sequence}, hash {head.hash}."
        if head.sequence
        else "The audit log was empty at generation."
    )
    list_sheet(
        wb, styles, "Audit", f"{chain} Times are in UTC.", audit_columns(styles),
        content.audit, "No audit entries in this scope.",
    )  # fmt: skip
    list_sheet(
        wb, styles, "Comments", "The breaks' comments as their authors wrote them. Times in UTC.",
        comment_columns(styles), content.comments, "No comments in this scope.",
    )  # fmt: skip
