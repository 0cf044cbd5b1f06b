"""Every figure of a report on hand-built rows (reports/content/figures.py, flags.py): no
breaks, all resolved, one critical break, and the edges of each threshold."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from reports.content import figures as f
from reports.content import flags
from reports.content import types as t
from reports.content.rows import RunFigures
from reports.content.types import BreakLine

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
LIMITS = f.Thresholds()


def row(n: int = 1, **changes) -> BreakLine:
    base = BreakLine(
        id=n, run_id=9, type="position", severity="medium", status="open", source="kraken",
        account="main", asset="BTC", entity="BTC", field="quantity",
        internal_value=Decimal(2), external_value=Decimal(1), difference=Decimal(1),
        value_rc=Decimal(100), first_seen_at=NOW - timedelta(hours=2),
        last_seen_at=NOW, times_seen=1, first_seen_run=9, causes=(), comment="",
        resolved_at=None, assigned=False,
    )  # fmt: skip
    return replace(base, **changes)


def correction(n: int, *, automatic: bool, break_id: int = 1, status="applied"):
    return t.CorrectionLine(
        n, break_id, 9, "position", "BTC", "BTC", "quantity", "set", Decimal(2), Decimal(1),
        Decimal(-1), Decimal(100), status, "automatic" if automatic else "manual", automatic,
        "", "r", "system", NOW, (), NOW, NOW, None, None, "",
    )  # fmt: skip


def run(compared=1000, breaks=10, **by_severity) -> RunFigures:
    return RunFigures(9, "1", compared, breaks, by_severity or {"medium": breaks})


def figure(found, key):
    return {x.key: x for x in found}[key]


def test_no_breaks_no_runs_every_rate_is_undefined_and_says_why():
    found = f.performance([], [], [], book_value=None, touched=set(), currency="USD")
    for key in ("match_rate_count", "data_quality_score"):
        assert figure(found, key).value is None and figure(found, key).note == "no runs in scope"
    assert figure(found, "auto_correction_rate").note == "no corrections in scope"
    assert figure(found, "manual_intervention_rate").note == "no breaks in scope"
    assert figure(found, "time_to_resolve_median").value is None
    assert f.value_at_risk([]) == 0 and f.exposures([], {}) == ()
    assert [x.count for x in f.by_severity([])] == [0, 0, 0, 0]
    patterns = f.patterns([])
    assert patterns.most_frequent_field is None and patterns.by_hour == (0,) * 24
    assert flags.regulatory([], now=NOW, limits=LIMITS, currency="USD") == ()


def test_a_run_without_breaks_matches_everything():
    found = f.performance([], [], [run(500, 0, medium=0)], book_value=Decimal(10),
                          touched=set(), currency="USD")  # fmt: skip
    assert figure(found, "match_rate_count").value == Decimal("100.00")
    assert figure(found, "match_rate_value").value == Decimal("100.00")
    assert figure(found, "data_quality_score").value == Decimal("100.00")


def test_all_resolved_nothing_at_risk_and_times_to_resolve():
    spans = [1, 2, 3, 4, 10]  # hours
    rows = [row(n, status="resolved", resolved_at=NOW - timedelta(hours=2) + timedelta(hours=h))
            for n, h in enumerate(spans, 1)]  # fmt: skip
    assert f.value_at_risk(rows) == 0
    found = f.performance(rows, [], [run()], book_value=None, touched=set(), currency="USD")
    assert figure(found, "time_to_resolve_median").value == Decimal("3.00")
    assert figure(found, "time_to_resolve_p90").value == Decimal("10.00")  # rank ceil(4.5)=5
    assert figure(found, "time_to_resolve_median_medium").value == Decimal("3.00")
    assert figure(found, "time_to_resolve_median_critical").note == "no resolved breaks in scope"
    assert figure(found, "match_rate_value").note.startswith("the book's value is unknown")


def test_an_even_number_of_resolve_times_takes_the_middle_two():
    assert f.median([Decimal(1), Decimal(2), Decimal(4), Decimal(9)]) == Decimal("3.00")
    assert f.nearest_rank([Decimal(n) for n in range(1, 11)], 90) == Decimal(9)
    assert f.hours(timedelta(minutes=90, microseconds=1)) == Decimal("1.50")


def test_one_critical_break_past_close_of_business_is_a_regulatory_flag():
    late = row(1, severity="critical", value_rc=Decimal("-1234.5"),
               first_seen_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC))  # fmt: skip
    raised = flags.regulatory([late], now=NOW, limits=LIMITS, currency="USD")
    assert [x.code for x in raised] == ["critical_open_past_cob"]
    assert raised[0].value == "1" and raised[0].threshold == "none open after 17:00 UTC"
    assert "1,234.5 USD at risk" in raised[0].text
    # Before close of business the same break raises nothing.
    early = flags.regulatory([late], now=NOW.replace(hour=16), limits=LIMITS, currency="USD")
    assert early == ()
    summary = flags.summary([late], key_figures=(), flags=raised, advice=(), currency="USD")
    assert summary.critical_issues[0] == "1 critical break open, 1,234.5 USD at risk."
    assert summary.regulatory_status == "1 regulatory flag raised: critical open past cob"


def test_close_of_business_comes_from_the_thresholds():
    late = row(1, severity="critical", first_seen_at=datetime(2026, 12, 7, 9, tzinfo=UTC))
    limits = replace(LIMITS, close_of_business=time(19, 0))
    assert flags.regulatory([late], now=NOW, limits=limits, currency="USD") == ()


def test_old_and_high_value_breaks_are_flagged_at_their_thresholds():
    old = row(1, first_seen_at=NOW - timedelta(days=5, seconds=1))
    young = row(2, first_seen_at=NOW - timedelta(days=5) + timedelta(seconds=1))
    high = row(3, value_rc=Decimal(-10_000))
    low = row(4, value_rc=Decimal("9999.999999999999999999"))
    closed = row(5, status="accepted", value_rc=Decimal(10**9))
    raised = {x.code: x for x in flags.regulatory([old, young, high, low, closed], now=NOW,
                                                   limits=LIMITS, currency="USD")}  # fmt: skip
    assert raised["breaks_older_than_limit"].value == "1"
    assert raised["high_value_breaks"].value == "1"
    assert raised["high_value_breaks"].threshold == ">= 10000 USD"


def test_value_at_risk_is_exact_beyond_28_digits():
    wide = "12345678901234567890.123456789012345678"  # 38 digits, as the database holds them
    rows = [row(1, value_rc=Decimal(wide)), row(2, value_rc=Decimal("-" + wide)),
            row(3, value_rc=Decimal("1E-18"))]  # fmt: skip
    assert f.value_at_risk(rows) == Decimal("24691357802469135780.246913578024691357")


def test_rates_on_hand_counted_data():
    rows = [row(n, severity=s) for n, s in enumerate(["critical", "high", "low", "low"], 1)]
    corrections = [correction(1, automatic=True), correction(2, automatic=False, break_id=2),
                   correction(3, automatic=True, break_id=3)]  # fmt: skip
    touched = f.touched_breaks(
        [*rows[:3], replace(rows[3], assigned=True)], corrections, commented={3}
    )
    assert touched == {2, 3, 4}  # a person's correction, a comment, an assignee
    runs = [run(200, 4, critical=1, high=1, low=2)]
    found = f.performance(rows, corrections, runs, book_value=Decimal(800), touched=touched,
                          currency="USD")  # fmt: skip
    assert figure(found, "match_rate_count").value == Decimal("98.00")  # 196 of 200
    assert figure(found, "match_rate_value").value == Decimal("50.00")  # 400 of 800 in breaks
    assert figure(found, "auto_correction_rate").value == Decimal("66.67")
    assert figure(found, "manual_intervention_rate").value == Decimal("75.00")
    # 1 + 0.75 + 0.25 + 0.25 = 2.25 weighted breaks of 200 compared: 1.125 % off.
    assert figure(found, "data_quality_score").value == Decimal("98.88")
    assert all(x.definition for x in found)


def test_groupings_and_patterns():
    rows = [row(1, field="fee", source="coinbase", value_rc=Decimal(5)),
            row(2, field="fee", value_rc=None, first_seen_at=NOW.replace(hour=3)),
            row(3, field="price", asset="ETH", times_seen=4, first_seen_run=2)]  # fmt: skip
    fields = f.tallies(rows, "field")
    assert [(x.key, x.count, x.value_rc) for x in fields] == [
        ("fee", 2, Decimal(5)), ("price", 1, Decimal(100))]  # fmt: skip
    patterns = f.patterns(rows)
    assert patterns.most_frequent_field.key == "fee"
    assert patterns.most_problematic_source.key == "kraken"
    assert patterns.by_hour[3] == 1 and sum(patterns.by_hour) == 3
    assert [(r.break_id, r.since_run, r.times_seen) for r in patterns.recurring] == [(3, 2, 4)]
    quotes = {"BTC": (Decimal("50000.1"), NOW, True)}
    exposure = f.exposures(rows, quotes)
    assert [(x.asset, x.value_rc, x.stale) for x in exposure] == [
        ("ETH", Decimal(100), False), ("BTC", Decimal(5), True)]  # fmt: skip
    assert exposure[0].price is None and exposure[1].price == Decimal("50000.1")


@pytest.mark.parametrize(("share", "raised"), [(29, False), (30, True)])
def test_the_frequent_field_recommendation_starts_at_its_threshold(share, raised):
    rows = [row(n, field="fee" if n < share else f"f{n}") for n in range(100)]
    advice = flags.recommendations(
        rows, exposures=(), patterns=f.patterns(rows), performance=(), corrections=[],
        limits=LIMITS, versions=("Default v1",),
    )  # fmt: skip
    assert ("frequent_field" in {x.code for x in advice}) is raised


def test_recommendations_name_their_figure_and_threshold_most_urgent_first():
    rows = [row(1, value_rc=None, asset="XRP"), row(2, source="coinbase", times_seen=3)]
    performance = f.performance(rows, [correction(1, automatic=False)], [run(100, 50)],
                                book_value=None, touched=set(), currency="USD")  # fmt: skip
    stale = (t.Exposure("BTC", 1, Decimal(1), Decimal(1), NOW, True),)
    advice = flags.recommendations(
        rows, exposures=stale, patterns=f.patterns(rows), performance=performance,
        corrections=[correction(1, automatic=False)], limits=LIMITS, versions=("Default v1",),
    )  # fmt: skip
    codes = [x.code for x in advice]
    assert set(codes) >= {"stale_prices", "unvalued_breaks", "low_match_rate",
                          "low_auto_correction_rate", "recurring_breaks"}  # fmt: skip
    levels = [x.level for x in advice]
    assert levels == sorted(levels, key=flags.LEVELS.index)
    assert all(x.figure and x.threshold for x in advice)
    low = {x.code: x for x in advice}["low_match_rate"]
    assert (low.value, low.threshold) == ("50.00%", "< 99%")


def test_the_lists_order_is_severity_then_exact_value_then_id():
    wide = Decimal("1" + "0" * 37)  # 38 digits: two of them differ in the last place only
    rows = [
        row(7, severity="low", value_rc=Decimal(10**6)),
        row(3, severity="critical", value_rc=None),
        row(5, severity="critical", value_rc=Decimal("-1" + "0" * 36 + "1")),  # -(wide + 1)
        row(4, severity="critical", value_rc=wide),
        row(2, severity="critical", value_rc=wide),
        row(6, severity="unheard-of", value_rc=Decimal(10**9)),
        row(1, severity="high", value_rc=Decimal(0)),
    ]
    listed = f.in_list_order(rows)
    assert [r.id for r in listed] == [5, 2, 4, 3, 1, 7, 6]
    assert [r.id for r in rows][:2] == [7, 3]  # the rows as given are left as they were


def test_the_one_pass_groupings_equal_each_fields_own():
    wide = Decimal("12345678901234567890.123456789012345678")
    rows = [
        row(1, severity="critical", type="trades", source="kraken", field="fee", value_rc=wide),
        row(2, severity="critical", type="trades", source="", field="fee", value_rc=-wide),
        row(3, severity="low", type="position", source="binance", field="", value_rc=None),
        row(4, severity="low", type="trades", source="kraken", field="quantity"),
    ]
    found = f.groupings(rows)
    assert set(found) == set(f.FEW_VALUED)
    for key in f.FEW_VALUED:
        assert found[key] == f.grouped(rows, key), key
        assert f.tallies(rows, key, groups=found[key]) == f.tallies(rows, key)
    assert found["severity"][1]["critical"] == Decimal("24691357802469135780.246913579012345678")
    assert found["source"][0]["(none)"] == 1
    assert f.groupings([]) == {key: ({}, {}) for key in f.FEW_VALUED}


def test_the_top_assets_from_the_exposures_order_equal_those_found_alone():
    rows = [row(n, asset=f"A{n % 7}", value_rc=Decimal(n * 3 % 11)) for n in range(1, 60)]
    groups = f.grouped(rows, "asset")
    order = f.names_by_value(groups)
    for limit in (3, 7, 10):
        assert f.top_by_value(rows, "asset", limit, groups=groups, order=order) == (
            f.top_by_value(rows, "asset", limit)
        ), limit
    exposures = f.exposures(rows, {}, groups=groups, order=order)
    assert [x.asset for x in exposures] == order == [x.asset for x in f.exposures(rows, {})]


def test_the_hour_of_first_sight_is_the_utc_hour_whatever_the_times_zone():
    from zoneinfo import ZoneInfo

    tokyo = ZoneInfo("Asia/Tokyo")  # UTC+9
    rows = [
        row(1, first_seen_at=datetime(2026, 12, 7, 9, 30, tzinfo=tokyo)),  # 00:30 UTC
        row(2, first_seen_at=datetime(2026, 12, 7, 0, 30, tzinfo=UTC)),
        row(3, first_seen_at=datetime(2026, 12, 7, 23, 59, tzinfo=UTC)),
    ]
    by_hour = f.patterns(rows).by_hour
    assert by_hour[0] == 2 and by_hour[23] == 1 and sum(by_hour) == 3
