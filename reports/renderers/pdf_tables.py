"""The PDF report's shorter tables (portrait pages): breaks by key, value at risk and exposures,
patterns, performance, recommendations and flags, runs in scope."""

from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable, Spacer, Table

from reports.content.types import Exposure, Figure, Flag, Patterns, RunLine, Tally
from reports.renderers.common import exact, grouped
from reports.renderers.pdf_style import (
    BOLD,
    CELL_PAD,
    CELL_SIZE,
    FONT,
    GREY,
    LEVEL,
    LIGHT,
    NAVY,
    SEVERITY,
    WHITE,
    fit_amount,
    fit_lines,
    table_style,
    text_cell,
    two_lines,
)

SIDE_BY_SIDE_ROWS = 30  # two short tables share a row; a longer one takes the full width


def table(rows: list[list], widths: list[float], right: tuple[int, ...] = (), style=None) -> Table:
    """A house table whose header repeats on every page it runs onto."""
    made = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    made.setStyle(style or table_style(right=right))
    return made


def stripe(made: Table, keys: list[str], palette: dict, column: int = 0) -> None:
    """A coloured bar at the left of each row whose key is a severity or level, and the key (in
    `column`) in its colour."""
    commands = []
    for row, key in enumerate(keys, start=1):
        colour = palette.get(key)
        if colour is not None:
            commands.append(("LINEBEFORE", (0, row), (0, row), 2.5, colour))
            commands.append(("TEXTCOLOR", (column, row), (column, row), colour))
            commands.append(("FONT", (column, row), (column, row), BOLD))
    if commands:
        made.setStyle(commands)


def amount(value, width: float) -> str:
    """An amount cell: every digit, on two lines if the column is narrower than the number."""
    return fit_amount(grouped(value), width)


def amount_width(values, width: float, floor: float = 60) -> float:
    """A column as wide as the widest of these amounts needs, within `floor` and `width`."""
    widest = max((stringWidth(grouped(v), FONT, CELL_SIZE) for v in values), default=0)
    return max(floor, min(width, widest + 2 * CELL_PAD + 1))


def figure_value(figure: Figure) -> str:
    """A figure as text: its exact digits and unit, or "n/a" when it is not defined here."""
    if figure.value is None:
        return "n/a"
    text = grouped(figure.value)
    if figure.unit == "%":
        return text + "%"
    return f"{text} {figure.unit}" if figure.unit and figure.unit != "breaks" else text


def tally_table(title: str, tallies: tuple[Tally, ...], currency: str, width: float) -> Table:
    value_width = amount_width([t.value_rc for t in tallies], width - 46 - 56, floor=70)
    widths = [width - value_width - 46, 46, value_width]
    rows = [[title, "Breaks", f"Value ({currency})"]]
    rows += [
        [text_cell(t.key, widths[0]), grouped(t.count), amount(t.value_rc, value_width)]
        for t in tallies
    ]
    made = table(rows, widths, right=(1, 2))
    stripe(made, [t.key for t in tallies], SEVERITY)
    return made


def tally_grid(pairs: list[tuple[str, tuple[Tally, ...]]], currency: str, width: float) -> list:
    """Tallies two to a row while they are short; an empty one says so instead of a bare
    header."""
    flowables: list[Flowable] = []
    half = (width - 6 * mm) / 2
    short = [(title, tallies) for title, tallies in pairs if len(tallies) <= SIDE_BY_SIDE_ROWS]
    long = [(title, tallies) for title, tallies in pairs if len(tallies) > SIDE_BY_SIDE_ROWS]
    cells = [_tally_or_none(title, tallies, currency, half) for title, tallies in short]
    for i in range(0, len(cells), 2):
        pair = cells[i : i + 2] + ([""] if len(cells[i : i + 2]) == 1 else [])
        grid = Table([pair], colWidths=[half + 6 * mm, half], hAlign="LEFT")
        grid.setStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
        flowables += [grid, Spacer(1, 5 * mm)]
    for title, tallies in long:
        flowables += [tally_table(title, tallies, currency, width), Spacer(1, 5 * mm)]
    return flowables


def _tally_or_none(title: str, tallies: tuple[Tally, ...], currency: str, width: float):
    if tallies:
        return tally_table(title, tallies, currency, width)
    made = table(
        [[title, "Breaks", f"Value ({currency})"], ["No breaks in this scope.", "", ""]],
        [width - 46 - 70, 46, 70],
        right=(1, 2),
    )
    made.setStyle([("SPAN", (0, 1), (-1, 1)), ("TEXTCOLOR", (0, 1), (-1, 1), GREY)])
    return made


def exposure_table(exposures: tuple[Exposure, ...], currency: str, width: float) -> Table:
    widths = [62, 40, 0, 0, 64, 52]
    widths[3] = amount_width([e.price for e in exposures if e.price is not None], 140)
    widths[2] = width - sum(widths)
    rows = [
        [
            "Asset",
            "Open breaks",
            f"Value at risk ({currency})",
            f"Price ({currency})",
            "Price as of",
            "Price status",
        ]
    ]
    commands = []
    for row, e in enumerate(exposures, start=1):
        status = "STALE" if e.stale else "no price" if e.price is None else "current"
        rows.append(
            [
                text_cell(e.asset, widths[0]),
                grouped(e.breaks),
                amount(e.value_rc, widths[2]),
                amount(e.price, widths[3]) if e.price is not None else "no price",
                two_lines(e.price_as_of),
                status,
            ]
        )
        if e.stale:
            commands += [
                ("TEXTCOLOR", (5, row), (5, row), SEVERITY["critical"]),
                ("FONT", (5, row), (5, row), BOLD),
                ("TEXTCOLOR", (3, row), (4, row), SEVERITY["critical"]),
            ]
        elif e.price is None:
            commands.append(("TEXTCOLOR", (3, row), (5, row), LIGHT))
    made = table(rows, widths, right=(1, 2, 3))
    if commands:
        made.setStyle(commands)
    return made


def performance_table(figures: tuple[Figure, ...], width: float) -> Table:
    widths = [118, 92, 0, 96]
    widths[2] = width - sum(widths)
    rows = [["Figure", "Value", "Definition", "Note"]]
    rows += [
        [
            text_cell(f.label, widths[0]),
            fit_lines(figure_value(f), widths[1]),
            text_cell(f.definition, widths[2]),
            text_cell(f.note, widths[3]),
        ]
        for f in figures
    ]
    return table(rows, widths, right=(1,))


def flag_table(flags: tuple[Flag, ...], width: float, what: str = "Flag") -> Table:
    widths = [48, 0, 92, 62, 92]
    widths[1] = width - sum(widths)
    rows = [["Level", what, "Figure", "Value", "Threshold"]]
    rows += [
        [
            f.level,
            text_cell(f.text, widths[1]),
            text_cell(f.figure, widths[2]),
            text_cell(f.value, widths[3]),
            text_cell(f.threshold, widths[4]),
        ]
        for f in flags
    ]
    made = table(rows, widths, right=(3,))
    stripe(made, [f.level for f in flags], LEVEL)
    return made


def run_table(runs: tuple[RunLine, ...], width: float) -> Table:
    widths = [30, 42, 46, 0, 0, 58, 50, 50, 36, 38, 38]
    widths[3] = widths[4] = (width - sum(widths)) / 2
    rows = [
        [
            "Run",
            "Type",
            "Status",
            "Book (internal)",
            "External",
            "Rule set",
            "As of",
            "Finished",
            "Breaks",
            "Matches",
            "Adjust-\nments",
        ]
    ]
    rows += [
        [
            exact(r.id),
            text_cell(r.type, widths[1]),
            text_cell(r.status, widths[2]),
            text_cell(r.internal, widths[3]),
            text_cell(r.external, widths[4]),
            text_cell(r.rule_set_version, widths[5]),
            two_lines(r.as_of),
            two_lines(r.finished_at) or "not finished",
            grouped(r.break_count),
            grouped(r.match_count),
            grouped(r.adjustment_count),
        ]
        for r in runs
    ]
    return table(rows, widths, right=(0, 8, 9, 10))


def pattern_facts(patterns: Patterns, currency: str, width: float) -> Table:
    """The most frequent field and the most problematic source, as a two-line panel."""
    rows = [["", "Breaks", f"Value ({currency})"]]
    for label, tally in (
        ("Most frequent field", patterns.most_frequent_field),
        ("Most problematic source", patterns.most_problematic_source),
    ):
        if tally is None:
            rows.append([f"{label}: none", "", ""])
        else:
            rows.append(
                [
                    text_cell(f"{label}: {tally.key}", width * 0.45),
                    grouped(tally.count),
                    amount(tally.value_rc, width * 0.4),
                ]
            )
    return table(rows, [width * 0.45, width * 0.15, width * 0.4], right=(1, 2))


def by_hour_table(by_hour: tuple[int, ...], width: float) -> Table:
    """Breaks by the hour (UTC) they were first seen, as two rows of twelve hours."""
    label = 58
    cell = (width - label) / 12
    rows = []
    for start in (0, 12):
        rows.append(["Hour (UTC)", *[f"{h:02d}:00" for h in range(start, start + 12)]])
        rows.append(["Breaks", *[grouped(n) for n in by_hour[start : start + 12]]])
    made = Table(rows, colWidths=[label] + [cell] * 12, hAlign="LEFT")
    made.setStyle(table_style(zebra=False, right=tuple(range(1, 13))))
    made.setStyle(
        [
            ("BACKGROUND", (0, 2), (-1, 2), NAVY),
            ("TEXTCOLOR", (0, 2), (-1, 2), WHITE),
            ("FONT", (0, 2), (-1, 2), BOLD),
            ("FONT", (0, 1), (0, -1), BOLD),
        ]
    )
    return made


def recurring_table(patterns: Patterns, width: float) -> Table:
    widths = [50, 54, 54, 0, 90, 60]
    widths[3] = width - sum(widths)
    rows = [["Break", "Since run", "Times seen", "Asset", "Field", "Severity"]]
    rows += [
        [
            exact(r.break_id),
            exact(r.since_run),
            grouped(r.times_seen),
            text_cell(r.asset, widths[3]),
            text_cell(r.field, widths[4]),
            r.severity,
        ]
        for r in patterns.recurring
    ]
    made = table(rows, widths, right=(0, 1, 2))
    made.setStyle(
        [
            ("TEXTCOLOR", (5, i), (5, i), SEVERITY[r.severity])
            for i, r in enumerate(patterns.recurring, start=1)
            if r.severity in SEVERITY
        ]
    )
    return made
