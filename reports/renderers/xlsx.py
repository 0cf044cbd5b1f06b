"""The report as an Excel workbook (openpyxl, write-only): Summary, Breaks, Corrections, Audit
and Comments sheets, typed cells, every amount also as exact text, inert text, native charts.

It only lays out the content: every figure is the content's (reports/content/types.py).
"""

from __future__ import annotations

from typing import BinaryIO
from zipfile import ZIP_DEFLATED, ZipFile

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from reports.content import types as t
from reports.renderers.xlsx_lists import add_list_sheets
from reports.renderers.xlsx_styles import register
from reports.renderers.xlsx_summary import summary_sheet


def render(content: t.ReportContent, out: BinaryIO) -> None:
    """Write the report's workbook (.xlsx) to `out`."""
    # Write-only: each sheet's rows stream to a temporary part file, not kept as cell objects.
    wb = Workbook(write_only=True)
    wb.properties.title = content.title
    wb.properties.creator = content.generated_by
    wb.properties.created = wb.properties.modified = content.generated_at.replace(tzinfo=None)
    styles = register(wb)
    summary_sheet(wb, styles, content)
    add_list_sheets(wb, styles, content)
    # wb.save() is this plus a "modified" stamp of the wall clock: the same content would not
    # give the same parts
    with ZipFile(out, "w", ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
