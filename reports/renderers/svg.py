"""A report chart as inline SVG for the HTML report, drawn from the one `Chart` description the
PDF and Excel charts are drawn from too.

The geometry is float (a chart is a picture); every number a reader sees on it is
`common.grouped()`, so a bar's label shows the same digits as the tables. Every text is escaped
here, which is why the HTML renderer may mark the result safe: nothing from the content reaches the
markup unescaped.
"""

from __future__ import annotations

import math
import re
from html import escape

from reports.content.types import Chart, Number
from reports.renderers.common import grouped

FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
INK, MUTED, LINE = "#1d2433", "#5f6b7a", "#d5dbe3"
# Muted navy and greys for series and slices; severities keep their own colours everywhere.
PALETTE = ("#2f4b7c", "#7a93b8", "#4f6d5a", "#a67c52", "#6b5b8a", "#8c9aab", "#3f7f8c", "#b0a27a")
SEVERITY_COLOURS = {"critical": "#b42318", "high": "#c4540a", "medium": "#b08800", "low": "#4a6fa5"}
CHAR_WIDTH = 0.6  # of the font size: a safe average for digits and lower case in a sans face
CATEGORY_CHARS = 24  # longer category names are cut on the picture (the full name is its title)
TITLE_ROOM = 44  # the title and the unit line above the plot

# XML 1.0 has no place for most control characters: one of them would make the SVG unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def svg(chart: Chart, *, width: int = 640, height: int = 320) -> str:
    """The SVG markup of one chart: bar (horizontal bars), column (vertical bars) or pie."""
    values = [tuple(series.values) for series in chart.series]
    if not chart.categories or not values or not any(len(v) for v in values):
        return _frame(chart, width, min(height, 120), [_empty(width, min(height, 120))])
    draw = {"bar": _bar, "column": _column, "pie": _pie}.get(chart.kind, _column)
    height, body = draw(chart, width, height)
    return _frame(chart, width, height, body)


def _text(value: object) -> str:
    """Escaped text for an SVG element or attribute (quotes included)."""
    return escape(_NOT_XML.sub("\ufffd", str(value)), quote=True)


def _cut(name: str, chars: int = CATEGORY_CHARS) -> str:
    return name if len(name) <= chars else name[: chars - 1] + "\u2026"


def _width_of(text: str, size: float) -> float:
    return len(text) * size * CHAR_WIDTH


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _identifier(key: str) -> str:
    return "chart-" + (re.sub(r"[^A-Za-z0-9_-]", "-", key) or "x")


def _frame(chart: Chart, width: int, height: int, body: list[str]) -> str:
    ident = _identifier(chart.key)
    unit = f"in {chart.unit}" if chart.unit else ""
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{_text(chart.kind)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{ident}-title" font-family="{FONT}" font-size="12" fill="{INK}">',
        f'<title id="{ident}-title">{_text(chart.title)}</title>',
        f'<text class="chart-title" x="0" y="16" font-size="15" font-weight="600">'
        f"{_text(chart.title)}</text>",
    ]
    if unit:
        head.append(f'<text x="0" y="33" fill="{MUTED}">{_text(unit)}</text>')
    return "".join([*head, *body, "</svg>"])


def _empty(width: int, height: int) -> str:
    return (
        f'<text class="chart-empty" x="{width / 2:.0f}" y="{(height + TITLE_ROOM) / 2:.0f}" '
        f'text-anchor="middle" fill="{MUTED}">No data in this scope</text>'
    )


def _colour(chart: Chart, category: str, series: int) -> str:
    if len(chart.series) == 1 and category in SEVERITY_COLOURS:
        return SEVERITY_COLOURS[category]
    return PALETTE[series % len(PALETTE)]


def _value(values: tuple[Number, ...], index: int) -> Number | None:
    return values[index] if index < len(values) else None


def _span(chart: Chart) -> tuple[float, float]:
    """The value range the axis must hold, zero included (bars grow from zero): floats as
    geometry only, the values shown are their exact text (`grouped`)."""
    numbers = [float(v) for s in chart.series for v in s.values if v is not None]
    low, high = min([0.0, *numbers]), max([0.0, *numbers])
    return (low, high if high > low else low + 1.0)


def _legend(chart: Chart, y: float) -> list[str]:
    """One swatch per series, when there is more than one to tell apart."""
    if len(chart.series) < 2:
        return []
    parts, x = [], 0.0
    for index, series in enumerate(chart.series):
        parts.append(
            f'<rect x="{_num(x)}" y="{_num(y - 9)}" width="10" height="10" '
            f'fill="{PALETTE[index % len(PALETTE)]}"/>'
            f'<text x="{_num(x + 14)}" y="{_num(y)}">{_text(series.name)}</text>'
        )
        x += 24 + _width_of(series.name, 12)
    return parts


def _datum_title(chart: Chart, category: str, series: str, value: Number | None) -> str:
    who = f"{category} ({series})" if len(chart.series) > 1 else category
    unit = f" {chart.unit}" if chart.unit else ""
    return f"<title>{_text(who)}: {_text(grouped(value))}{_text(unit)}</title>"


def _bar(chart: Chart, width: int, height: int) -> tuple[int, list[str]]:
    """Horizontal bars: categories down the left, each bar labelled with its value."""
    count, lines = len(chart.categories), len(chart.series)
    top = TITLE_ROOM + (18 if lines > 1 else 0)
    bottom = 22 if chart.y_label else 8  # the value axis's name (y_label, as in every renderer)
    height = max(height, int(top + bottom + count * max(16, 10 * lines)))
    names = [_cut(c) for c in chart.categories]
    left = min(max(_width_of(n, 12) for n in names) + 10, width * 0.3)
    labels = [grouped(v) for s in chart.series for v in s.values]
    size = 12.0
    right = max(_width_of(label, size) for label in labels) + 8
    if right > width * 0.4:  # very long exact amounts: a smaller face rather than no room
        size = max(7.0, size * width * 0.4 / right)
        right = width * 0.4
    plot = width - left - right
    low, high = _span(chart)
    x_of = lambda v: left + (float(v) - low) / (high - low) * plot  # noqa: E731
    row = (height - top - bottom) / count
    thick = row * 0.72 / lines
    body = _legend(chart, TITLE_ROOM + 8)
    for c, (category, name) in enumerate(zip(chart.categories, names, strict=True)):
        y0 = top + c * row + row * 0.14
        body.append(
            f'<text x="{_num(left - 6)}" y="{_num(top + (c + 0.5) * row + 4)}" '
            f'text-anchor="end">{_text(name)}</text>'
        )
        for s, series in enumerate(chart.series):
            value = _value(series.values, c)
            start, end = sorted((x_of(0), x_of(value or 0)))
            y = y0 + s * thick
            body.append(
                f'<rect class="bar" x="{_num(start)}" y="{_num(y)}" width="{_num(end - start)}" '
                f'height="{_num(thick - 1)}" fill="{_colour(chart, category, s)}">'
                f"{_datum_title(chart, category, series.name, value)}</rect>"
                f'<text x="{_num(end + 4)}" y="{_num(y + thick / 2 + size * 0.35)}" '
                f'font-size="{_num(size)}" class="value">{_text(grouped(value))}</text>'
            )
    zero = x_of(0)
    body.append(
        f'<line x1="{_num(zero)}" y1="{top}" x2="{_num(zero)}" y2="{_num(height - bottom)}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    )
    if chart.y_label:
        body.append(
            f'<text x="{_num(left + plot / 2)}" y="{height - 4}" text-anchor="middle" '
            f'fill="{MUTED}">{_text(chart.y_label)}</text>'
        )
    return height, body


def _column(chart: Chart, width: int, height: int) -> tuple[int, list[str]]:
    """Vertical bars: categories along the bottom, each bar labelled with its value on top."""
    count, lines = len(chart.categories), len(chart.series)
    left = 22 if chart.y_label else 4
    slot = (width - left - 4) / count
    names = [_cut(c) for c in chart.categories]
    tilt = max(_width_of(n, 12) for n in names) > slot - 4  # long names: set at an angle
    bottom = (max(_width_of(n, 12) for n in names) * 0.7 + 14 if tilt else 20) + (
        18 if chart.x_label else 0
    )
    labels = [grouped(v) for s in chart.series for v in s.values]
    thick = min(slot * 0.64 / lines, 64)
    upright = max(_width_of(label, 11) for label in labels) > thick * lines + slot * 0.3
    top = TITLE_ROOM + (18 if lines > 1 else 0)
    headroom = max(_width_of(label, 11) for label in labels) + 6 if upright else 16
    height = max(height, int(top + headroom + bottom + 60))
    low, high = _span(chart)
    plot_top, plot_bottom = top + headroom, height - bottom
    y_of = lambda v: plot_bottom - (float(v) - low) / (high - low) * (plot_bottom - plot_top)  # noqa: E731
    body = _legend(chart, TITLE_ROOM + 8)
    for c, (category, name) in enumerate(zip(chart.categories, names, strict=True)):
        middle = left + (c + 0.5) * slot
        x0 = middle - thick * lines / 2
        for s, series in enumerate(chart.series):
            value = _value(series.values, c)
            y_top, y_end = sorted((y_of(0), y_of(value or 0)))
            x = x0 + s * thick
            body.append(
                f'<rect class="bar" x="{_num(x)}" y="{_num(y_top)}" width="{_num(thick - 1)}" '
                f'height="{_num(y_end - y_top)}" fill="{_colour(chart, category, s)}">'
                f"{_datum_title(chart, category, series.name, value)}</rect>"
            )
            label = _text(grouped(value))
            lx = x + thick / 2
            if upright:
                body.append(
                    f'<text class="value" font-size="11" transform="translate({_num(lx + 3.5)},'
                    f'{_num(y_top - 4)}) rotate(-90)">{label}</text>'
                )
            else:
                body.append(
                    f'<text class="value" font-size="11" x="{_num(lx)}" y="{_num(y_top - 4)}" '
                    f'text-anchor="middle">{label}</text>'
                )
        if tilt:
            body.append(
                f'<text text-anchor="end" transform="translate({_num(middle + 4)},'
                f'{_num(plot_bottom + 14)}) rotate(-40)">{_text(name)}</text>'
            )
        else:
            body.append(
                f'<text x="{_num(middle)}" y="{_num(plot_bottom + 15)}" text-anchor="middle">'
                f"{_text(name)}</text>"
            )
    zero = y_of(0)
    body.append(
        f'<line x1="{left}" y1="{_num(zero)}" x2="{width - 4}" y2="{_num(zero)}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    )
    if chart.x_label:
        body.append(
            f'<text x="{_num(left + (width - left) / 2)}" y="{height - 4}" text-anchor="middle" '
            f'fill="{MUTED}">{_text(chart.x_label)}</text>'
        )
    if chart.y_label:
        body.append(
            f'<text fill="{MUTED}" text-anchor="middle" transform="translate(12,'
            f'{_num((plot_top + plot_bottom) / 2)}) rotate(-90)">{_text(chart.y_label)}</text>'
        )
    return height, body


def _pie(chart: Chart, width: int, height: int) -> tuple[int, list[str]]:
    """A pie of the first series (a pie has one), with a legend giving each slice's value."""
    series = chart.series[0]
    count = len(chart.categories)
    height = max(height, TITLE_ROOM + 12 + count * 18)
    radius = min(height - TITLE_ROOM - 12, width * 0.4, 220) / 2
    cx, cy = radius + 24, TITLE_ROOM + (height - TITLE_ROOM) / 2
    legend_x = cx + radius + 36
    names = [_cut(c, 40) for c in chart.categories]
    labels = [grouped(_value(series.values, c)) for c in range(count)]
    value_x = min(
        legend_x
        + 16
        + max(_width_of(n, 12) for n in names)
        + 24
        + max(_width_of(v, 12) for v in labels),
        width - 4,
    )
    shares = [max(float(_value(series.values, c) or 0), 0.0) for c in range(count)]
    total = sum(shares)
    body: list[str] = []
    if total == 0:
        body.append(
            f'<circle cx="{_num(cx)}" cy="{_num(cy)}" r="{_num(radius)}" fill="none" '
            f'stroke="{LINE}" stroke-width="1"/>'
        )
    angle = -math.pi / 2  # from twelve o'clock, clockwise
    for c, category in enumerate(chart.categories):
        colour = SEVERITY_COLOURS.get(category, PALETTE[c % len(PALETTE)])
        title = _datum_title(chart, category, series.name, _value(series.values, c))
        sweep = 2 * math.pi * shares[c] / total if total else 0.0
        if sweep >= 2 * math.pi - 1e-9:  # one slice is the whole: an arc cannot close on itself
            tag = "circle"
            shape = f'cx="{_num(cx)}" cy="{_num(cy)}" r="{_num(radius)}"'
        else:
            x0, y0 = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
            x1 = cx + radius * math.cos(angle + sweep)
            y1 = cy + radius * math.sin(angle + sweep)
            large = 1 if sweep > math.pi else 0
            path = (
                f"M{_num(cx)} {_num(cy)} L{_num(x0)} {_num(y0)} "
                f"A{_num(radius)} {_num(radius)} 0 {large} 1 {_num(x1)} {_num(y1)}Z"
                if sweep
                else f"M{_num(cx)} {_num(cy)}Z"
            )
            tag, shape = "path", f'd="{path}"'
        body.append(
            f'<{tag} class="slice" {shape} fill="{colour}" stroke="#fff" stroke-width="1.5">'
            f"{title}</{tag}>"
        )
        angle += sweep
        ly = cy - count * 9 + c * 18 + 4
        body.append(
            f'<rect x="{_num(legend_x)}" y="{_num(ly - 9)}" width="10" height="10" '
            f'fill="{colour}"/><text x="{_num(legend_x + 16)}" y="{_num(ly)}">'
            f'{_text(names[c])}</text><text class="value" x="{_num(value_x)}" y="{_num(ly)}" '
            f'text-anchor="end">{_text(labels[c])}</text>'
        )
    return int(height), body
