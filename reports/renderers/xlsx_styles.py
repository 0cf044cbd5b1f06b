"""The Excel workbook's cell styles, registered with openpyxl (which writes them to styles.xml)
once per workbook; cells refer to them by id."""

from __future__ import annotations

from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.worksheet.worksheet import Worksheet

# Amounts: thousands grouped, at least two decimals as finance reads money, and up to 18 (the
# product's precision) so a small quantity never shows as 0.00. Excel itself shows at most 15
# significant digits of the float it holds; the exact column beside shows all of them.
AMOUNT_FORMAT = "#,##0.00################"
COUNT_FORMAT = "#,##0"
ID_FORMAT = "0"  # an id is a name, not a quantity: no thousands separator
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DAY_FORMAT = "yyyy-mm-dd"

NAVY = "1F3864"
GREY = "595959"
_RULE = Side(style="thin", color="A6A6A6")


@dataclass(frozen=True)
class Styles:
    title: int
    section: int
    note: int
    header: int
    label: int
    text: int
    exact: int
    amount: int
    count: int
    id: int
    time: int
    day: int
    boolean: int
    stale: int
    critical: int


def register(wb: Workbook) -> Styles:
    """Every style the sheets use, as openpyxl style ids of `wb`."""
    probe = wb.create_sheet("_styles")  # a cell needs a sheet to reach the workbook's styles
    right = Alignment(horizontal="right", indent=1)  # clear of a left-aligned neighbour

    def style(**attributes) -> int:
        cell = WriteOnlyCell(probe)
        for name, value in attributes.items():
            setattr(cell, name, value)
        return cell.style_id

    ids = Styles(
        title=style(font=Font(bold=True, size=16, color=NAVY)),
        section=style(font=Font(bold=True, size=12, color=NAVY), border=Border(bottom=_RULE)),
        note=style(font=Font(italic=True, color=GREY)),
        header=style(
            font=Font(bold=True, color="FFFFFF"),
            fill=PatternFill("solid", fgColor=NAVY),
            alignment=Alignment(vertical="center", wrap_text=True),
        ),
        label=style(font=Font(bold=True)),
        text=style(alignment=Alignment(vertical="top")),
        exact=style(alignment=right),
        amount=style(number_format=AMOUNT_FORMAT),
        count=style(number_format=COUNT_FORMAT),
        id=style(number_format=ID_FORMAT),
        time=style(number_format=TIME_FORMAT, alignment=Alignment(horizontal="left")),
        day=style(number_format=DAY_FORMAT, alignment=Alignment(horizontal="left")),
        boolean=style(alignment=Alignment(horizontal="center")),
        stale=style(
            font=Font(bold=True, color="9C0006"), fill=PatternFill("solid", fgColor="FFEB9C")
        ),
        critical=style(font=Font(bold=True, color="9C0006")),
    )
    wb.remove(probe)
    return ids


def print_setup(ws, header_row: int | None = None) -> None:
    """Printed landscape, the columns fitted to the page width, the header on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as the rows need
    if header_row is not None:
        ws.print_title_rows = f"{header_row}:{header_row}"
