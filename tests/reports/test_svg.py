"""The HTML report's charts: each SVG read back as XML, its bars and slices counted against the
chart's categories, its value labels compared with the exact texts, and hostile text escaped."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from defusedxml import ElementTree

from reports.content.types import Chart, Series
from reports.renderers.common import grouped
from reports.renderers.svg import svg
from tests.reports.sample import HOSTILE, TINY, WIDE, sample_content

NS = "{http://www.w3.org/2000/svg}"
SCRIPT = "<script>alert(1)</script>"


def parse(chart: Chart, **size):
    return ElementTree.fromstring(svg(chart, **size))


def by_class(root, tag: str, name: str) -> list:
    return [e for e in root.iter(f"{NS}{tag}") if e.get("class") == name]


def texts(root) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(f"{NS}text")]


def chart(kind: str, categories, *series, title="Value by asset", unit="USD") -> Chart:
    return Chart("c", title, kind, tuple(categories),
                 tuple(Series(f"S{i}", tuple(v)) for i, v in enumerate(series)), unit)  # fmt: skip


@pytest.mark.parametrize("kind", ["bar", "column"])
def test_one_bar_per_category_labelled_with_its_exact_value(kind):
    values = (TINY, WIDE, Decimal("0.5"), 7)
    root = parse(chart(kind, ("A", "B", "C", "D"), values))
    assert len(by_class(root, "rect", "bar")) == 4
    labels = ["".join(e.itertext()) for e in root.iter(f"{NS}text") if e.get("class") == "value"]
    assert labels == [grouped(v) for v in values]
    assert "1.000000000000000001" in labels  # not the 1 a float would make of it
    assert "123,456,789,012.123456789012345678" in labels


def test_a_bar_is_as_long_as_its_value_and_a_column_as_tall():
    bars = by_class(parse(chart("bar", ("A", "B", "C"), (1, 3, 2))), "rect", "bar")
    widths = [float(b.get("width")) for b in bars]
    assert widths[1] > widths[2] > widths[0] > 0
    assert widths[1] == pytest.approx(widths[0] * 3, rel=0.01)
    columns = by_class(parse(chart("column", ("A", "B"), (4, 1))), "rect", "bar")
    heights = [float(c.get("height")) for c in columns]
    assert heights[0] == pytest.approx(heights[1] * 4, rel=0.01)


def test_two_series_draw_one_bar_per_category_and_series_with_a_legend():
    root = parse(chart("column", ("critical", "high", "low"), (1, 2, 3), (4, 5, 6)))
    assert len(by_class(root, "rect", "bar")) == 6
    assert {"S0", "S1"} <= set(texts(root))


def test_one_slice_per_category_and_the_slices_make_the_whole_pie():
    values = (Decimal(1), Decimal(1), Decimal(2))
    root = parse(chart("pie", ("spot", "futures", "margin"), values))
    slices = by_class(root, "path", "slice")
    assert len(slices) == 3
    # The legend gives each slice's exact value beside its name.
    assert [t for t in texts(root) if t in {grouped(v) for v in values}] == ["1", "1", "2"]
    assert {"spot", "futures", "margin"} <= set(texts(root))
    # The slices meet: each ends where the next begins, the last where the first began.
    ends = [s.get("d").rstrip("Z").split("A")[1].split()[-2:] for s in slices]
    starts = [s.get("d").split("L")[1].split("A")[0].split() for s in slices]
    for end, start in zip(ends, starts[1:] + starts[:1], strict=True):
        assert [float(x) for x in end] == pytest.approx([float(x) for x in start], abs=0.2)


def test_a_single_category_pie_is_a_whole_circle_and_a_zero_slice_is_still_there():
    assert len(by_class(parse(chart("pie", ("position",), (40,))), "circle", "slice")) == 1
    root = parse(chart("pie", ("a", "b"), (0, 5)))
    assert len(by_class(root, "path", "slice") + by_class(root, "circle", "slice")) == 2


@pytest.mark.parametrize("kind", ["bar", "column", "pie"])
def test_hostile_title_and_category_come_out_as_text(kind):
    source = chart(kind, (SCRIPT, *HOSTILE[:3]), (1, 2, 3, 4), title=SCRIPT)
    markup = svg(source)
    assert "<script" not in markup
    root = ElementTree.fromstring(markup)
    assert not [e for e in root.iter() if e.tag.lower().endswith("script")]
    assert root.find(f"{NS}title").text == SCRIPT
    assert SCRIPT in texts(root)  # the title line and the category, as written
    assert any(SCRIPT in "".join(t.itertext()) for t in root.iter(f"{NS}title"))


def test_control_characters_in_a_category_keep_the_svg_readable():
    root = parse(chart("bar", ("bad\x01name", "ok"), (1, 2)))
    assert len(by_class(root, "rect", "bar")) == 2


@pytest.mark.parametrize(
    "empty",
    [chart("bar", (), ()), Chart("c", "Nothing", "pie", (), ()), chart("column", ("a",))],
)
def test_a_chart_without_data_is_a_readable_picture_saying_so(empty):
    root = ElementTree.fromstring(svg(empty))
    assert "No data in this scope" in texts(root)
    assert not by_class(root, "rect", "bar")


def test_a_chart_of_zeros_draws_flat_bars_and_an_empty_pie():
    root = parse(chart("column", [f"{h:02d}" for h in range(24)], (0,) * 24))
    assert len(by_class(root, "rect", "bar")) == 24
    assert all(float(b.get("height")) == 0 for b in by_class(root, "rect", "bar"))
    assert len(by_class(parse(chart("pie", ("a", "b"), (0, 0))), "path", "slice")) == 2


def test_many_categories_grow_the_picture_rather_than_overlap():
    names = [f"A{n:05d}" for n in range(40)]
    root = parse(chart("bar", names, range(40)), height=320)
    assert float(root.get("height")) >= 40 * 16
    ys = [float(b.get("y")) for b in by_class(root, "rect", "bar")]
    assert all(b - a >= 15 for a, b in pairwise(ys))


def test_every_sample_chart_is_well_formed_with_one_mark_per_category():
    for source in sample_content().charts:
        root = ElementTree.fromstring(svg(source))
        marks = by_class(root, "rect", "bar") + by_class(root, "path", "slice")
        marks += by_class(root, "circle", "slice")
        expected = len(source.categories) * (1 if source.kind == "pie" else len(source.series))
        assert len(marks) == expected, source.key
        assert root.find(f"{NS}title").text == source.title
