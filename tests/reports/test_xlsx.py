"""The Excel renderer, read back with openpyxl (values, types, panes, filters) and as the zip it
is (the charts, which openpyxl does not read): every figure equals the content's."""

from __future__ import annotations

import dataclasses
import re
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO

import openpyxl
import pytest
from openpyxl.utils import range_boundaries
from openpyxl.utils.escape import unescape

from reports.renderers.common import FORMULA_STARTS, exact, inert
from reports.renderers.xlsx import render
from reports.renderers.xlsx_lists import exact_header
from tests.reports.sample import HOSTILE, TINY, WIDE, empty_content, sample_content

SHEETS = ["Summary", "Breaks", "Corrections", "Audit", "Comments"]
BREAK_AMOUNTS = {
    "Internal value": "internal_value",
    "External value": "external_value",
    "Difference": "difference",
    "Value (USD)": "value_rc",
}
CORRECTION_AMOUNTS = {
    "Original value": "original_value",
    "Corrected value": "corrected_value",
    "Delta": "delta",
    "Impact (USD)": "impact_rc",
}


def _render(content) -> bytes:
    out = BytesIO()
    render(content, out)
    return out.getvalue()


@pytest.fixture(scope="module")
def content():
    return sample_content()


@pytest.fixture(scope="module")
def data(content) -> bytes:
    return _render(content)


@pytest.fixture(scope="module")
def wb(data):
    return openpyxl.load_workbook(BytesIO(data))


def _columns(ws) -> dict[str, int]:
    """The list sheet's header (row 2): its labels and their column numbers."""
    return {cell.value: cell.column for cell in ws[2] if cell.value is not None}


def _naive(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def test_the_sheets_come_in_order(wb):
    assert wb.sheetnames == SHEETS


@pytest.mark.parametrize(
    ("sheet", "lines"),
    [("Breaks", "breaks"), ("Corrections", "corrections"), ("Audit", "audit"),
     ("Comments", "comments")],
)  # fmt: skip
def test_a_list_has_its_header_frozen_and_a_filter_over_header_and_rows(wb, content, sheet, lines):
    ws = wb[sheet]
    count = len(getattr(content, lines))
    assert count > 0
    _column, row = openpyxl.utils.cell.coordinate_from_string(ws.freeze_panes)
    assert row == 3  # the note and the header stay in view
    assert ws[2][0].font.b and ws[2][0].fill.fgColor.rgb.endswith("1F3864")
    first_col, first_row, last_col, last_row = range_boundaries(ws.auto_filter.ref)
    assert (first_col, first_row) == (1, 2)
    assert last_col == ws.max_column == len(_columns(ws))
    assert last_row == 2 + count == ws.max_row
    assert all(ws.column_dimensions[c.column_letter].width >= 8 for c in ws[2])


def test_every_break_amount_is_a_number_and_its_exact_digits(wb, content):
    ws = wb["Breaks"]
    columns = _columns(ws)
    assert len(content.breaks) == 40
    for row, line in enumerate(content.breaks, 3):
        assert ws.cell(row, columns["Break"]).value == line.id
        for header, name in BREAK_AMOUNTS.items():
            value = getattr(line, name)
            number = ws.cell(row, columns[header])
            text = ws.cell(row, columns[exact_header(header)])
            assert number.data_type == "n" and isinstance(number.value, float)
            assert number.value == float(value)
            assert "0.00" in number.number_format  # shown as money, not General
            assert text.data_type == "s" and text.value == exact(value)
    tiny, wide = (
        ws.cell(3, columns["Difference (exact)"]),
        ws.cell(4, columns["Difference (exact)"]),
    )
    assert tiny.value == "1.000000000000000001" == exact(TINY)
    assert wide.value == "123456789012.123456789012345678" == exact(WIDE)
    assert ws.cell(3, columns["Difference"]).value == 1.0  # what a float makes of TINY


def test_every_correction_amount_is_a_number_and_its_exact_digits(wb, content):
    ws = wb["Corrections"]
    columns = _columns(ws)
    for row, line in enumerate(content.corrections, 3):
        assert ws.cell(row, columns["Correction"]).value == line.id
        for header, name in CORRECTION_AMOUNTS.items():
            value = getattr(line, name)
            assert ws.cell(row, columns[header]).value == float(value)
            text = ws.cell(row, columns[exact_header(header)])
            assert text.data_type == "s" and text.value == exact(value)
    assert ws.cell(3, columns["Impact (USD, exact)"]).value == exact(WIDE)
    assert ws.cell(3, columns["Delta (exact)"]).value == "-0.000000000000000001"


def test_cells_are_typed(wb, content):
    breaks, columns = wb["Breaks"], _columns(wb["Breaks"])
    for row, line in enumerate(content.breaks, 3):
        first = breaks.cell(row, columns["First seen (UTC)"])
        assert first.is_date and first.value == _naive(line.first_seen_at)
        assert breaks.cell(row, columns["Times seen"]).value == line.times_seen
        assert isinstance(breaks.cell(row, columns["Times seen"]).value, int)
        for header in ("Type", "Severity", "Asset", "Causes"):
            assert breaks.cell(row, columns[header]).data_type == "s"
        assert breaks.cell(row, columns["Causes"]).value == ", ".join(line.causes)
    fixes, columns = wb["Corrections"], _columns(wb["Corrections"])
    for row, line in enumerate(content.corrections, 3):
        assert fixes.cell(row, columns["Automatic"]).value is line.automatic
        for header, name in (("Created (UTC)", "created_at"), ("Applied (UTC)", "applied_at")):
            cell = fixes.cell(row, columns[header])
            assert cell.value == _naive(getattr(line, name))
            assert cell.value is None or cell.is_date
        assert fixes.cell(row, columns["Approvers"]).value == (
            inert(", ".join(line.approvers)) or None
        )
    audit, columns = wb["Audit"], _columns(wb["Audit"])
    for row, line in enumerate(content.audit, 3):
        assert audit.cell(row, columns["Sequence"]).value == line.sequence
        assert audit.cell(row, columns["Time (UTC)"]).value == _naive(line.created_at)
        assert audit.cell(row, columns["Hash"]).value == line.hash


def test_user_text_comes_out_inert_and_otherwise_as_written(wb, data, content):
    every = [cell for ws in wb for row in ws.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in every if cell.data_type == "f"]
    with zipfile.ZipFile(BytesIO(data)) as package:
        for name in package.namelist():
            if name.startswith("xl/worksheets/sheet"):
                assert b"<f>" not in package.read(name) and b"<f " not in package.read(name)
    breaks, columns = wb["Breaks"], _columns(wb["Breaks"])
    written = {breaks.cell(row, columns["Latest comment"]).value for row in range(3, 43)}
    fixes, fix_columns = wb["Corrections"], _columns(wb["Corrections"])
    for row, line in enumerate(content.corrections, 3):
        assert fixes.cell(row, fix_columns["Reason"]).value == inert(line.reason)
        rejection = fixes.cell(row, fix_columns["Rejection reason"]).value
        assert rejection == (inert(line.rejection_reason) or None)
        written.add(fixes.cell(row, fix_columns["Reason"]).value)
    comments = wb["Comments"]
    written |= {comments.cell(row, 4).value for row in range(3, comments.max_row + 1)}
    for hostile in HOSTILE:
        if hostile.startswith(FORMULA_STARTS):
            assert "'" + hostile in written  # the quote, then every character as written
            assert hostile not in written
        else:
            assert hostile in written  # <script> is harmless in a cell: left as written
    for cell in every:
        if cell.data_type == "s" and cell.value.startswith(FORMULA_STARTS):
            # only an exact amount may start with "-", and it is a string cell
            assert re.fullmatch(r"-\d+(\.\d+)?", cell.value), cell.coordinate


def test_text_xml_cannot_hold_is_written_as_excel_reads_it():
    content = sample_content(4, 1)
    awkward = [
        "a & <b> > c",
        "  spaced  ",
        "bell\x07 and null\x00",
        "_x0041_ literal",
        "x" * 40_000,
    ]
    lines = tuple(
        dataclasses.replace(line, comment=text)
        for line, text in zip(content.breaks, awkward[:4], strict=True)
    )
    content = dataclasses.replace(
        content, breaks=(*lines, dataclasses.replace(lines[0], comment=awkward[4]))
    )
    ws = openpyxl.load_workbook(BytesIO(_render(content)))["Breaks"]
    column = _columns(ws)["Latest comment"]
    # Excel decodes _xHHHH_ (ECMA-376 ST_Xstring), openpyxl leaves it: decode as Excel does
    shown = [unescape(ws.cell(row, column).value) for row in range(3, 8)]
    assert shown[:4] == awkward[:4]
    assert len(shown[4]) == 32_767 and shown[4].startswith("x" * 32_000)
    assert "cut at 32,767 of 40,000 characters" in shown[4]


def test_each_sheet_says_the_exact_column_is_the_figure_of_record(wb):
    for name in ("Summary", "Breaks", "Corrections"):
        notes = [c.value for row in wb[name].iter_rows(max_row=12) for c in row if c.value]
        assert any("(exact)" in str(n) and "every digit" in str(n) for n in notes), name
    for name in ("Breaks", "Corrections", "Audit", "Comments"):
        assert "UTC" in wb[name]["A1"].value


def _summary(wb) -> dict[str, list]:
    """The Summary's rows by the text in column A (the first row of each)."""
    rows = {}
    for row in wb["Summary"].iter_rows():
        if row[0].value is not None:
            rows.setdefault(str(row[0].value), [c for c in row])
    return rows


def test_the_summary_has_where_the_report_came_from(wb, content):
    rows = _summary(wb)
    assert content.title in rows
    assert rows["Scope"][1].value == content.scope.description
    assert rows["Generated at (UTC)"][1].value == _naive(content.generated_at)
    assert rows["Generated at (UTC)"][1].is_date
    assert rows["Generated by"][1].value == content.generated_by
    assert rows["Reporting currency"][1].value == "USD"
    assert rows["Rule set versions"][1].value == "Default v2"
    assert rows["Audit chain head: sequence"][1].value == content.chain_head.sequence
    assert rows["Audit chain head: hash"][1].value == content.chain_head.hash


def _tables(ws, first_header: str) -> list[list]:
    """The Summary's tables whose header row starts with `first_header`: their rows, up to the
    first empty row."""
    tables, rows = [], None
    for row in ws.iter_rows():
        if row[0].value == first_header and row[0].font.b and row[0].fill.fgColor.rgb:
            rows = []
            tables.append(rows)
        elif rows is not None and all(c.value is None for c in row):
            rows = None
        elif rows is not None:
            rows.append(row)
    return tables


def test_the_summary_figures_tallies_and_flags_are_the_contents(wb, content):
    ws = wb["Summary"]
    cells = {c.value: c for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    key_figures, performance = _tables(ws, "Figure")
    for figures, rows in (
        (content.summary.key_figures, key_figures),
        (content.performance, performance),
    ):
        assert len(rows) == len(figures)
        for figure, row in zip(figures, rows, strict=True):
            assert row[0].value == figure.label and row[3].value == (figure.unit or None)
            if figure.value is None:
                assert row[1].value is None and row[4].value == figure.note
            else:
                assert row[1].value == float(figure.value) and row[2].value == exact(figure.value)
            assert row[5].value == figure.definition
    for flag in (*content.regulatory_flags, *content.recommendations):
        row = ws[cells[flag.text].row]
        assert [c.value for c in row[:5]] == [
            flag.level, flag.figure, flag.value, flag.threshold, flag.code
        ]  # fmt: skip
    (severity,) = _tables(ws, "Severity")
    assert len(severity) == len(content.by_severity)
    for tally, row in zip(content.by_severity, severity, strict=True):
        assert row[0].value == tally.key and row[3].value == tally.count
        assert row[1].value == float(tally.value_rc) and row[2].value == exact(tally.value_rc)
    total = ws[cells["Total (USD)"].row]
    assert total[2].value == exact(content.value_at_risk)


def test_exposures_show_price_time_and_a_stale_marker(wb, content):
    ws = wb["Summary"]
    header = next(r for r in ws.iter_rows() if r[0].value == "Asset" and r[4].value)[0].row
    assert [c.value for c in ws[header]][4:8] == [
        "Price (USD)", "Price (exact)", "Price as of (UTC)", "Price status"
    ]  # fmt: skip
    assert any(e.stale for e in content.exposures) and any(
        e.price is None for e in content.exposures
    )
    for n, exposure in enumerate(content.exposures, header + 1):
        row = ws[n]
        assert row[0].value == exposure.asset and row[2].value == exact(exposure.value_rc)
        assert row[5].value == (exact(exposure.price) or None)
        assert row[6].value == _naive(exposure.price_as_of)
        status = row[7].value
        assert status == (
            "no price" if exposure.price is None else "STALE" if exposure.stale else "current"
        )
        if exposure.stale or exposure.price is None:
            assert row[7].font.b


def test_each_chart_is_a_native_chart_of_its_data(data, wb, content):
    ws = wb["Summary"]
    with zipfile.ZipFile(BytesIO(data)) as package:
        charts = [package.read(f"xl/charts/chart{n}.xml").decode() for n in range(1, 4)]
        assert "xl/charts/chart4.xml" not in package.namelist()
        drawing = package.read("xl/drawings/drawing1.xml").decode()
    assert drawing.count("<c:chart ") == len(content.charts) == 3
    kinds = {"column": '<barDir val="col"', "bar": '<barDir val="bar"', "pie": "<pieChart>"}
    for chart, xml in zip(content.charts, charts, strict=True):
        assert f"<a:t>{chart.title}</a:t>" in xml and kinds[chart.kind] in xml
        values, labels = (
            re.search(r"<val><numRef><f>([^<]+)</f>", xml),
            re.search(r"<cat><numRef><f>([^<]+)</f>", xml),
        )
        sheet, cells = values.group(1).split("!")
        assert sheet == "'Summary'"
        plotted = [row[0].value for row in ws[cells.replace("$", "")]] if ":" in cells else [
            ws[cells.replace("$", "")].value
        ]  # fmt: skip
        assert plotted == [float(v) for v in chart.series[0].values]
        names = labels.group(1).split("!")[1].replace("$", "")
        named = [row[0].value for row in ws[names]] if ":" in names else [ws[names].value]
        assert named == list(chart.categories)


def test_an_empty_content_gives_a_valid_workbook():
    data = _render(empty_content())
    wb = openpyxl.load_workbook(BytesIO(data))
    assert wb.sheetnames == SHEETS
    for name, nothing in (("Breaks", "No breaks"), ("Corrections", "No corrections"),
                          ("Audit", "No audit entries"), ("Comments", "No comments")):  # fmt: skip
        ws = wb[name]
        assert len(_columns(ws)) == ws.max_column > 3
        assert ws["A3"].value.startswith(nothing)
        assert ws.auto_filter.ref.endswith("2") and ws.freeze_panes.endswith("3")
    rows = _summary(wb)
    assert "No regulatory flag raised" in rows
    assert rows["Total (USD)"][2].value == "0"
    with zipfile.ZipFile(BytesIO(data)) as package:
        assert package.testzip() is None
        assert not [n for n in package.namelist() if n.startswith("xl/charts/")]


def test_the_same_content_gives_the_same_sheets(data, content):
    again = _render(content)
    with zipfile.ZipFile(BytesIO(data)) as one, zipfile.ZipFile(BytesIO(again)) as two:
        assert one.namelist() == two.namelist()
        for name in one.namelist():
            assert one.read(name) == two.read(name), name


def test_amounts_keep_their_float_to_the_last_bit():
    """openpyxl's own "%.16g" would write 0.1 + 0.2 as 0.3: the cell holds the float itself."""
    content = sample_content(1, 0)
    line = dataclasses.replace(content.breaks[0], difference=Decimal("0.30000000000000004"))
    ws = openpyxl.load_workbook(BytesIO(_render(dataclasses.replace(content, breaks=(line,)))))
    cell = ws["Breaks"].cell(3, _columns(ws["Breaks"])["Difference"])
    assert cell.value == 0.1 + 0.2 != 0.3
