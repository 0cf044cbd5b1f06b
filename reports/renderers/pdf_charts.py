"""The report's charts as reportlab drawings, each from its `Chart` description alone.

Values become floats only to place a bar or a slice (a chart is a picture); every value a reader
sees next to it is `grouped()` text of the exact amount. The category axis is named by
`x_label` and the value axis by `y_label` (the unit when that is empty), whichever way the bars
run.
"""

from __future__ import annotations

from dataclasses import replace

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing, Group, Line, Rect, String
from reportlab.pdfbase.pdfmetrics import stringWidth

from reports.content.types import Chart
from reports.renderers.common import grouped
from reports.renderers.pdf_style import (
    BOLD,
    FONT,
    GREY,
    INK,
    LIGHT,
    NAVY,
    RULE,
    SERIES,
    SEVERITY,
    WHITE,
    clean,
)

TITLE_SIZE = 10
TEXT_SIZE = 7
VALUE_SIZE = 6.5
MIN_VALUE_SIZE = 5
TITLE_ROOM = 30  # title and unit line above the plot


def drawing(chart: Chart, width: float, height: float) -> Drawing:
    """The chart drawn to `width` x `height` points: title, axes or legend, labelled values."""
    canvas = Drawing(width, height)
    canvas.add(
        String(
            0,
            height - 11,
            _fit(chart.title, BOLD, TITLE_SIZE, width),
            fontName=BOLD,
            fontSize=TITLE_SIZE,
            fillColor=NAVY,
        )
    )
    if chart.unit:
        canvas.add(
            String(
                0,
                height - 23,
                _fit(f"in {chart.unit}", FONT, TEXT_SIZE, width),
                fontName=FONT,
                fontSize=TEXT_SIZE,
                fillColor=GREY,
            )
        )
    canvas.add(
        Line(
            0,
            height - TITLE_ROOM + 3,
            width,
            height - TITLE_ROOM + 3,
            strokeColor=RULE,
            strokeWidth=0.5,
        )
    )
    plot = Group()
    room = height - TITLE_ROOM
    kind = chart.kind if _drawable(chart) else "none"
    if kind == "pie" and any(v < 0 for v in chart.series[0].values):
        kind = "bar"  # a pie cannot show a negative share; bars can
    fits = _capacity(chart, kind, width, room)
    if fits < len(chart.categories):
        # The first categories (the builder orders them, most first), not a crowd of bars.
        note = f"the first {fits:,} of {len(chart.categories):,}; all are in the tables"
        canvas.add(
            String(
                width,
                height - 23,
                note,
                fontName=FONT,
                fontSize=TEXT_SIZE,
                fillColor=GREY,
                textAnchor="end",
            )
        )
        chart = _first(chart, fits)
    if kind == "bar":
        _bars(plot, chart, width, room)
    elif kind == "column":
        _columns(plot, chart, width, room)
    elif kind == "pie":
        _pie(plot, chart, width, room)
    else:
        plot.add(
            String(
                width / 2,
                room / 2,
                "Nothing to draw: no values in this scope.",
                fontName=FONT,
                fontSize=8,
                fillColor=GREY,
                textAnchor="middle",
            )
        )
    canvas.add(plot)
    return canvas


def _capacity(chart: Chart, kind: str, width: float, room: float) -> int:
    """How many categories the plot can show with each bar still readable."""
    series = max(1, len(chart.series))
    if kind == "bar":
        return max(1, int((room - 40) // (6 + 5 * series)))
    if kind == "column":
        return max(1, int((width - 50) // (4 + 11 * series)))
    return len(chart.categories)  # a pie's legend says itself how many it leaves out


def _first(chart: Chart, n: int) -> Chart:
    series = tuple(replace(s, values=s.values[:n]) for s in chart.series)
    return replace(chart, categories=chart.categories[:n], series=series)


def _drawable(chart: Chart) -> bool:
    n = len(chart.categories)
    if not n or not chart.series or any(len(s.values) != n for s in chart.series):
        return False
    if chart.kind == "pie":
        return any(v != 0 for v in chart.series[0].values)
    return True


def _fit(text: str, font: str, size: float, room: float) -> str:
    """A label shortened, visibly, to fit `room` points (category names only, never values)."""
    text = clean(text)
    if stringWidth(text, font, size) <= room:
        return text
    while text and stringWidth(text + "…", font, size) > room:
        text = text[:-1]
    return text + "…"


def _value_size(texts: list[str], room: float) -> float:
    """The largest value-label size, down to a floor, at which every label fits `room`."""
    widest = max((stringWidth(t, FONT, 1) for t in texts), default=0)
    if not widest:
        return VALUE_SIZE
    return max(MIN_VALUE_SIZE, min(VALUE_SIZE, room / widest))


def _colours(chart: Chart, row: int, n: int) -> list:
    """Bar colours: by severity when the categories are severities, else by series."""
    if len(chart.series) == 1 and all(c in SEVERITY for c in chart.categories):
        return [SEVERITY[c] for c in chart.categories]
    return [SERIES[row % len(SERIES)]] * n


def _ticks(value: float) -> str:
    """A value-axis tick, short: the scale only; exact values are on the bars."""
    size = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:,.4g}{suffix}"
    return f"{value:,.6g}"


def _style_axes(bars, value_size: float) -> None:
    bars.valueAxis.labels.fontName = FONT
    bars.valueAxis.labels.fontSize = TEXT_SIZE
    bars.valueAxis.labels.fillColor = GREY
    bars.valueAxis.labelTextFormat = _ticks
    bars.valueAxis.strokeColor = RULE
    bars.valueAxis.visibleGrid = 1
    bars.valueAxis.gridStrokeColor = RULE
    bars.valueAxis.gridStrokeWidth = 0.3
    bars.valueAxis.forceZero = 1
    bars.categoryAxis.labels.fontName = FONT
    bars.categoryAxis.labels.fontSize = TEXT_SIZE
    bars.categoryAxis.labels.fillColor = INK
    bars.categoryAxis.strokeColor = LIGHT
    bars.categoryAxis.visibleTicks = 0
    bars.barLabelFormat = "values"
    bars.barLabels.fontName = FONT
    bars.barLabels.fontSize = value_size
    bars.barLabels.fillColor = INK
    bars.categoryAxis.labelAxisMode = "low"  # names beside the plot, not at a negative bar's zero
    bars.strokeColor = None
    bars.groupSpacing = 6
    bars.barSpacing = 1


def _fill(bars, chart: Chart) -> None:
    n = len(chart.categories)
    # Floats only as geometry (reportlab places bars with them); every value shown is the
    # exact text of the bar labels below.
    bars.data = [[float(v) for v in s.values] for s in chart.series]
    if not any(v for row in bars.data for v in row):
        bars.valueAxis.valueMin, bars.valueAxis.valueMax = 0, 1  # zeros: a scale from zero
    counts = [v for s in chart.series for v in s.values]
    if all(isinstance(v, int) for v in counts) and max(map(abs, counts), default=0) <= 10:
        bars.valueAxis.valueStep = 1  # a count's scale has no half breaks
    bars.barLabelArray = [[grouped(v) for v in s.values] for s in chart.series]
    for row in range(len(chart.series)):
        for col, colour in enumerate(_colours(chart, row, n)):
            bars.bars[(row, col)].fillColor = colour
            bars.bars[(row, col)].strokeColor = None


def _anchor(bars, anchor: str, dx: float = 0, dy: float = 0) -> None:
    """Value labels just past their bars' ends (reportlab turns anchor and offset round for a
    negative bar)."""
    bars.barLabels.boxAnchor = anchor
    bars.barLabels.dx, bars.barLabels.dy = dx, dy


def _legend(group: Group, chart: Chart, x: float, y: float) -> float:
    """A series legend on one line at (x, y) when there is more than one series; its height."""
    if len(chart.series) < 2:
        return 0
    for row, series in enumerate(chart.series):
        group.add(Rect(x, y, 7, 7, fillColor=SERIES[row % len(SERIES)], strokeColor=None))
        name = _fit(series.name, FONT, TEXT_SIZE, 110)
        group.add(String(x + 10, y + 1, name, fontName=FONT, fontSize=TEXT_SIZE, fillColor=INK))
        x += 16 + stringWidth(name, FONT, TEXT_SIZE)
    return 12


def _axis_name(chart: Chart) -> str:
    return chart.y_label or chart.unit


def _bars(group: Group, chart: Chart, width: float, room: float) -> None:
    """Horizontal bars: categories down the left, first at the top, exact values at bar ends."""
    texts = [grouped(v) for s in chart.series for v in s.values]
    value_room = min(width * 0.42, max(stringWidth(t, FONT, VALUE_SIZE) for t in texts) + 8)
    value_size = _value_size(texts, value_room - 8)
    names = [_fit(c, FONT, TEXT_SIZE, width * 0.22) for c in chart.categories]
    name_room = max(stringWidth(c, FONT, TEXT_SIZE) for c in names) + 8
    side = 12 if chart.x_label else 0
    negatives = [grouped(v) for s in chart.series for v in s.values if v < 0]
    # A negative bar's label stands left of its end: room for it between the names and the plot.
    left_values = max((stringWidth(t, FONT, value_size) for t in negatives), default=0)
    left_values += 8 if negatives else 0
    bottom = 26 + _legend(group, chart, side + name_room, 0)
    bars = HorizontalBarChart()
    bars.x, bars.y = side + name_room + left_values, bottom
    bars.width = max(40, width - bars.x - value_room)
    bars.height = room - bottom - 4
    _style_axes(bars, value_size)
    bars.categoryAxis.categoryNames = names
    bars.categoryAxis.reverseDirection = 1  # the first (most severe, most value) on top
    bars.categoryAxis.labels.boxAnchor = "e"
    bars.categoryAxis.labels.dx = -4 - left_values
    _anchor(bars, "w", dx=3)
    bars.valueAxis.labels.angle = 0
    _fill(bars, chart)
    group.add(bars)
    _axis_title(group, _axis_name(chart), bars.x + bars.width / 2, bottom - 22)
    if chart.x_label:
        _axis_title(group, chart.x_label, 7, bottom + bars.height / 2, angle=90)


def _columns(group: Group, chart: Chart, width: float, room: float) -> None:
    """Vertical bars: exact values above them, turned upright when a slot is too narrow."""
    texts = [grouped(v) for s in chart.series for v in s.values]
    n = len(chart.categories)
    side = 26 + (12 if _axis_name(chart) else 0)
    plot_width = width - side - 6
    slot = plot_width / n / len(chart.series)
    value_size = _value_size(texts, max(slot - 2, room * 0.3))
    widest = max(stringWidth(t, FONT, value_size) for t in texts)
    upright = widest > slot - 2
    headroom = min((widest if upright else value_size) + 8, room * 0.45)
    per_name = plot_width / n - 4
    steep = per_name < 14  # too narrow for names at an angle: stand them upright
    names = [_fit(c, FONT, TEXT_SIZE, max(per_name, 60)) for c in chart.categories]
    longest = max(stringWidth(c, FONT, TEXT_SIZE) for c in names)
    turned = longest > per_name
    name_room = (longest * (1 if steep else 0.7) + 10) if turned else 14
    # A negative column's label hangs below its end, at the plot's foot: the names go lower.
    below = 0
    if any(v < 0 for s in chart.series for v in s.values):
        below = min((widest if upright else value_size) + 5, room * 0.2)
    bottom = name_room + below + (14 if chart.x_label else 0)
    bottom += _legend(group, chart, side, 0)
    bars = VerticalBarChart()
    bars.x, bars.y = side, bottom
    bars.width, bars.height = plot_width, max(30, room - bottom - headroom)
    _style_axes(bars, value_size)
    bars.categoryAxis.categoryNames = names
    if turned:
        bars.categoryAxis.labels.angle = 90 if steep else 40
        bars.categoryAxis.labels.boxAnchor = "e" if steep else "ne"
    bars.categoryAxis.labels.dy = -3 - below
    bars.valueAxis.labels.dx = -2
    if upright:
        bars.barLabels.angle = 90
        bars.barLabels.boxAnchor = "w"
        bars.barLabels.dy = 3
    else:
        _anchor(bars, "s", dy=3)
    _fill(bars, chart)
    group.add(bars)
    _axis_title(group, _axis_name(chart), 6, bottom + bars.height / 2, angle=90)
    if chart.x_label:
        _axis_title(group, chart.x_label, side + plot_width / 2, _legend_gap(chart) + 2)


def _legend_gap(chart: Chart) -> float:
    return 12 if len(chart.series) > 1 else 0


def _axis_title(group: Group, text: str, x: float, y: float, angle: float = 0) -> None:
    if not text:
        return
    label = String(
        0, 0, text, fontName=FONT, fontSize=TEXT_SIZE, fillColor=GREY, textAnchor="middle"
    )
    holder = Group(label)
    holder.translate(x, y)
    holder.rotate(angle)
    group.add(holder)


def _pie(group: Group, chart: Chart, width: float, room: float) -> None:
    """A pie of the first series, with a legend naming each slice and its exact value."""
    series = chart.series[0]
    colours = _colours(chart, 0, len(chart.categories))
    if len(set(map(id, colours))) == 1:
        colours = [SERIES[i % len(SERIES)] for i in range(len(chart.categories))]
    size = min(room - 12, width * 0.3, 150)
    pie = Pie()
    pie.x, pie.y = 24, (room - size) / 2
    pie.width = pie.height = size
    pie.data = [max(float(v), 0.0) for v in series.values]  # geometry: slice angles only
    pie.labels = None
    pie.simpleLabels = 1
    pie.slices.strokeColor = WHITE
    pie.slices.strokeWidth = 0.8
    pie.startAngle = 90
    pie.direction = "clockwise"
    for i, colour in enumerate(colours):
        pie.slices[i].fillColor = colour
    group.add(pie)
    _pie_legend(group, chart, colours, size + 60, min(width, size + 60 + 240), room)


def _pie_legend(group: Group, chart: Chart, colours: list, x: float, width: float, room: float):
    values = [grouped(v) for v in chart.series[0].values]
    step = min(14.0, max(8.0, (room - 8) / len(values)))
    shown = min(len(values), int((room - 8) // step))
    if shown < len(values):
        shown -= 1  # the last line says how many more there are
    size = min(TEXT_SIZE, step - 2)
    value_width = max(stringWidth(v, FONT, size) for v in values[:shown])
    right = width - 2
    top = room / 2 + min(len(values), shown + 1) * step / 2 - step
    for i in range(shown):
        y = top - i * step
        group.add(Rect(x, y, size, size, fillColor=colours[i], strokeColor=None))
        room_for_name = max(20, right - value_width - 12 - (x + size + 4))
        name = _fit(chart.categories[i], FONT, size, room_for_name)
        group.add(String(x + size + 4, y + 0.5, name, fontName=FONT, fontSize=size, fillColor=INK))
        group.add(
            String(
                right,
                y + 0.5,
                values[i],
                fontName=FONT,
                fontSize=size,
                fillColor=INK,
                textAnchor="end",
            )
        )
    if shown < len(values):
        more = f"and {len(values) - shown:,} more: see the tables"
        group.add(
            String(x, top - shown * step + 0.5, more, fontName=FONT, fontSize=size, fillColor=GREY)
        )
