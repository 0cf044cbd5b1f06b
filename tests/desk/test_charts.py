"""The overview's chart geometry (desk/charts.py): bars proportional to their values, inside the
drawing, each with its link; the summary a screen reader hears names every bar."""

from desk import charts


def test_horizontal_bars_are_proportional_and_a_zero_has_none():
    chart = charts.horizontal("Open breaks", [("a", 10, "/a", ""), ("b", 5, "/b", ""),
                                              ("c", 0, "/c", "")])  # fmt: skip
    a, b, c = chart.bars
    assert a.width == 2 * b.width and c.width == 0
    assert all(bar.x + bar.width <= chart.width for bar in chart.bars)
    assert [bar.href for bar in chart.bars] == ["/a", "/b", "/c"]
    assert chart.summary == "Open breaks: a 10; b 5; c 0" and not chart.empty
    assert charts.horizontal("none", [("a", 0, "/a", "")]).empty


def test_columns_stand_on_one_base_and_the_tallest_fills_the_height():
    days = [(str(n), f"day {n}") for n in range(14)]
    found = [n % 5 for n in range(14)]
    resolved = [1] * 14
    chart = charts.columns("Days", days, [("found", "f", found, ["/f"] * 14),
                                          ("resolved", "r", resolved, ["/r"] * 14)])  # fmt: skip
    assert len(chart.bars) == 28 and chart.top == 4 and len(chart.ticks) == 14
    bases = {round(bar.y + bar.height, 6) for bar in chart.bars}
    assert len(bases) == 1  # every column on the axis
    tallest = max(chart.bars, key=lambda bar: bar.height)
    assert tallest.value == 4 and tallest.y == 0
    assert all(bar.x >= 0 and bar.x + bar.width <= chart.width for bar in chart.bars)
    assert chart.legend == (("f", "found"), ("r", "resolved"))
