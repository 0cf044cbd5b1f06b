"""The Excel workbook's native charts (openpyxl.chart), one per chart description of the
content, drawn from its data table on the Summary sheet."""

from __future__ import annotations

from openpyxl.chart import BarChart, PieChart, Reference
from openpyxl.chart._chart import ChartBase
from openpyxl.chart.label import DataLabelList

from reports.content import types as t
from reports.renderers.xlsx_styles import COUNT_FORMAT

CHART_ROWS = 18  # rows a chart covers, at openpyxl's default row height and the size below
WIDTH_CM, HEIGHT_CM = 16, 8.5


def chart_for(chart: t.Chart, ws, header_row: int, categories: int) -> ChartBase:
    """The chart of `chart`, its data the table whose header is at `header_row` of `ws`:
    categories in column A, one column per series from B."""
    first, last = header_row + 1, header_row + categories
    data = Reference(ws, min_col=2, max_col=1 + len(chart.series), min_row=header_row, max_row=last)
    labels = Reference(ws, min_col=1, min_row=first, max_row=last)
    drawn = _pie(chart) if chart.kind == "pie" else _bars(chart)
    drawn.title = chart.title
    drawn.width, drawn.height = WIDTH_CM, HEIGHT_CM
    drawn.add_data(data, titles_from_data=True)
    drawn.set_categories(labels)
    return drawn


def _pie(chart: t.Chart) -> PieChart:
    drawn = PieChart()
    # the share only: a reader's default would add the category and series names
    drawn.dataLabels = DataLabelList(
        showPercent=True, showVal=False, showCatName=False, showSerName=False, showLegendKey=False
    )
    return drawn


def _bars(chart: t.Chart) -> BarChart:
    drawn = BarChart()
    horizontal = chart.kind == "bar"
    drawn.type = "bar" if horizontal else "col"
    # x_label and y_label name the horizontal and vertical axes as seen; openpyxl's x_axis is
    # the categories' axis, which a horizontal bar chart draws vertically.
    drawn.x_axis.title = (chart.y_label if horizontal else chart.x_label) or None
    drawn.y_axis.title = (chart.x_label if horizontal else chart.y_label) or chart.unit or None
    if horizontal:
        drawn.x_axis.scaling.orientation = "maxMin"  # the first (largest) category on top
    # the value axis' labels: whole numbers unless the bars are small (a picture's scale, not
    # a figure: the figures are in the table beside)
    largest = max((abs(float(v)) for series in chart.series for v in series.values), default=0)
    drawn.y_axis.number_format = (
        COUNT_FORMAT if largest >= 100 or chart.unit == "breaks" else "0.00"
    )
    # openpyxl 3.1 leaves the axes' "delete" unset, which recent Excel reads as hidden axes
    drawn.x_axis.delete = False
    drawn.y_axis.delete = False
    if len(chart.series) == 1:
        drawn.legend = None
    return drawn
