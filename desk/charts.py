"""The overview's charts as geometry: bars placed in an SVG's coordinates, each with the link to
the list behind it. The template draws them (templates/desk/_bars.html, _columns.html): inline
SVG, nothing loaded from elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

LABEL_WIDTH = 120  # the categories' names, left of horizontal bars
VALUE_WIDTH = 70  # the count printed after a bar
ROW = 24
BAR = 16


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    href: str
    x: float
    y: float
    width: float
    height: float
    css: str = ""  # a class for its colour (a severity, a series)


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, str], ...] = ()  # (x, label) under columns
    legend: tuple[tuple[str, str], ...] = ()  # (css, name)
    top: int = 0  # the columns' scale: the value of the tallest, printed at the top

    @property
    def empty(self) -> bool:
        return not any(bar.value for bar in self.bars)

    @property
    def summary(self) -> str:
        """The chart in words, for screen readers and as its tooltip."""
        return f"{self.title}: " + "; ".join(f"{bar.label} {bar.value:,}" for bar in self.bars)


def horizontal(title: str, items: list[tuple[str, int, str, str]], *, width: int = 460) -> Chart:
    """One bar per (label, value, link, css), longest for the largest value."""
    room = width - LABEL_WIDTH - VALUE_WIDTH
    top = max((value for _label, value, _href, _css in items), default=0) or 1
    bars = tuple(
        Bar(
            label,
            value,
            href,
            LABEL_WIDTH,
            n * ROW + (ROW - BAR) / 2,
            max(room * value / top, 1 if value else 0),
            BAR,
            css,
        )
        for n, (label, value, href, css) in enumerate(items)
    )
    return Chart(title, width, max(len(items), 1) * ROW, bars)


def columns(
    title: str,
    days: list[tuple[str, str]],
    series: list[tuple[str, str, list[int], list[str]]],
    *,
    width: int = 460,
    height: int = 150,
) -> Chart:
    """Columns per day, one per series side by side: `days` are (tick label, full label);
    `series` are (name, css, values, links)."""
    axis = 18  # room for the day labels
    plot = height - axis
    left = 28  # room for the scale's label
    top = max((v for _name, _css, values, _links in series for v in values), default=0) or 1
    slot = (width - left) / max(len(days), 1)
    each = slot * 0.8 / max(len(series), 1)
    bars = []
    for s, (name, css, values, links) in enumerate(series):
        for n, (value, href) in enumerate(zip(values, links, strict=True)):
            tall = plot * value / top
            x = left + n * slot + slot * 0.1 + s * each
            bars.append(Bar(f"{days[n][1]}, {name}", value, href, x, plot - tall, each, tall, css))
    ticks = tuple((left + n * slot + slot / 2, tick) for n, (tick, _full) in enumerate(days))
    legend = tuple((css, name) for name, css, _values, _links in series)
    return Chart(title, width, height, tuple(bars), ticks, legend, top)
