"""Price selection, valued breaks, valuation reconciliation and severity."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import polars as pl
import pytest

from reconciliation.engine import causes
from reconciliation.engine.balances import reconcile_balances
from reconciliation.engine.types import BREAKS
from reconciliation.engine.valuation import (
    SELECTED,
    reconcile_valuation,
    select_prices,
    severity,
    value_breaks,
)
from tests.engine import T0, balances, prices, rules

MINUTE = timedelta(minutes=1)


def select(rows, *, priority=("kraken", "coinbase"), staleness=5 * MINUTE, lkg=False) -> dict:
    chosen = select_prices(
        prices(*rows),
        as_of=T0,
        reporting_currency="USD",
        source_priority=list(priority),
        staleness=staleness,
        last_known_good=lkg,
    )
    return {row["asset"]: row for row in chosen.iter_rows(named=True)}


def test_selected_prices_have_a_fixed_schema():
    chosen = select_prices(
        prices(("BTC", "USD", "1", T0, "kraken")),
        as_of=T0,
        reporting_currency="USD",
        source_priority=["kraken"],
        staleness=MINUTE,
        last_known_good=False,
    )
    assert dict(chosen.schema) == SELECTED
    assert chosen["asset"].to_list() == ["BTC", "USD"]


def test_naive_as_of_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        select_prices(
            prices(),
            as_of=T0.replace(tzinfo=None),
            reporting_currency="USD",
            source_priority=[],
            staleness=MINUTE,
            last_known_good=False,
        )


def test_reporting_currency_is_price_one():
    chosen = select([])
    assert chosen["USD"]["price"] == Decimal(1) and chosen["USD"]["stale"] is False


def test_source_priority_beats_recency():
    chosen = select(
        [
            ("BTC", "USD", "50000", T0 - 2 * MINUTE, "kraken"),
            ("BTC", "USD", "50100", T0 - MINUTE, "coinbase"),
        ]
    )
    assert chosen["BTC"]["price"] == Decimal(50000)
    assert chosen["BTC"]["price_source"] == "kraken"
    assert chosen["BTC"]["price_as_of"] == T0 - 2 * MINUTE


def test_latest_price_at_or_before_as_of_is_used():
    chosen = select(
        [
            ("BTC", "USD", "1", T0 - 3 * MINUTE, "kraken"),
            ("BTC", "USD", "2", T0, "kraken"),
            ("BTC", "USD", "3", T0 + MINUTE, "kraken"),
        ]
    )
    assert chosen["BTC"]["price"] == Decimal(2)


def test_unlisted_sources_come_last():
    chosen = select(
        [
            ("BTC", "USD", "1", T0, "elsewhere"),
            ("BTC", "USD", "2", T0 - MINUTE, "coinbase"),
        ]
    )
    assert chosen["BTC"]["price_source"] == "coinbase"


def test_cross_rate_through_an_intermediate_is_exact():
    chosen = select(
        [
            ("ETH", "BTC", "0.0512345678", T0, "kraken"),
            ("BTC", "USD", "60000.5", T0 - MINUTE, "kraken"),
        ]
    )
    assert chosen["ETH"]["price"] == Decimal("0.0512345678") * Decimal("60000.5")
    assert chosen["ETH"]["price_source"] == "kraken:ETH/BTC*kraken:BTC/USD"
    assert chosen["ETH"]["price_as_of"] == T0 - MINUTE


def test_cross_rate_rounds_half_even_to_18_places():
    chosen = select(
        [
            ("A", "BTC", "0.000000000000000003", T0, "kraken"),
            ("B", "BTC", "0.000000000000000005", T0, "kraken"),
            ("BTC", "USD", "0.5", T0, "kraken"),
        ]
    )
    assert chosen["A"]["price"] == Decimal("0.000000000000000002")  # 1.5e-18 -> 2e-18
    assert chosen["B"]["price"] == Decimal("0.000000000000000002")  # 2.5e-18 -> 2e-18


def test_direct_quote_beats_cross_rate():
    chosen = select(
        [
            ("ETH", "USD", "3000", T0, "coinbase"),
            ("ETH", "BTC", "0.05", T0, "kraken"),
            ("BTC", "USD", "50000", T0, "kraken"),
        ]
    )
    assert chosen["ETH"]["price"] == Decimal(3000)


def test_stale_price_is_unusable_without_last_known_good():
    chosen = select([("SOL", "USD", "100", T0 - 6 * MINUTE, "kraken")])
    assert chosen["SOL"]["stale"] is True and chosen["SOL"]["price"] is None


def test_stale_price_is_used_and_flagged_with_last_known_good():
    chosen = select([("SOL", "USD", "100", T0 - 6 * MINUTE, "kraken")], lkg=True)
    assert chosen["SOL"]["stale"] is True and chosen["SOL"]["price"] == Decimal(100)


def test_price_exactly_at_the_staleness_limit_is_fresh():
    chosen = select([("SOL", "USD", "100", T0 - 5 * MINUTE, "kraken")])
    assert chosen["SOL"]["stale"] is False


def test_fresh_lower_priority_price_beats_a_stale_preferred_one():
    chosen = select(
        [
            ("BTC", "USD", "1", T0 - 10 * MINUTE, "kraken"),
            ("BTC", "USD", "2", T0, "coinbase"),
        ],
        lkg=True,
    )
    assert chosen["BTC"]["price"] == Decimal(2) and chosen["BTC"]["stale"] is False


def test_asset_without_any_price_is_absent():
    assert "DOGE" not in select([("BTC", "USD", "1", T0, "kraken")])


# --- value_breaks --------------------------------------------------------------------------------


def chosen_prices(*rows, lkg=False) -> pl.DataFrame:
    return select_prices(
        prices(*rows),
        as_of=T0,
        reporting_currency="USD",
        source_priority=["kraken"],
        staleness=5 * MINUTE,
        last_known_good=lkg,
    )


def test_value_breaks_values_the_difference_in_the_reporting_currency():
    found = reconcile_balances(
        balances(("main", "BTC", "1.5"), ("main", "DOGE", "3"), ("main", "USD", "10")),
        balances(("main", "BTC", "1.2"), ("main", "DOGE", "1"), ("main", "USD", "12.5")),
        rules(),
    )
    valued = value_breaks(
        found, chosen_prices(("BTC", "USD", "50000.123", T0, "kraken")), reporting_currency="USD"
    )
    assert set(BREAKS) < set(valued.columns)
    by_asset = {row["asset"]: row for row in valued.iter_rows(named=True)}
    assert by_asset["BTC"]["value_rc"] == Decimal("0.3") * Decimal("50000.123")
    assert by_asset["BTC"]["price_source"] == "kraken"
    assert by_asset["USD"]["value_rc"] == Decimal("2.5")
    assert by_asset["DOGE"]["value_rc"] is None and by_asset["DOGE"]["price"] is None


def test_value_of_a_tiny_difference_rounds_half_even():
    found = reconcile_balances(
        balances(("main", "BTC", "0.000000000000000001")), balances(("main", "BTC", "0")), rules()
    )
    valued = value_breaks(
        found, chosen_prices(("BTC", "USD", "2.5", T0, "kraken")), reporting_currency="USD"
    )
    assert valued["value_rc"].to_list() == [Decimal("0.000000000000000002")]


def test_what_a_break_says_it_is_worth_is_valued_and_nothing_needs_no_price():
    found = reconcile_balances(
        balances(("main", "BTC", "2"), ("main", "ETH", "1")),
        balances(("main", "BTC", "1"), ("main", "ETH", "2")),
        rules(),
    ).with_columns(
        value_asset=pl.Series(["USD", "ETH"]),
        value_amount=pl.Series([Decimal("7.5"), Decimal(0)], dtype=BREAKS["difference"]),
    )
    valued = value_breaks(found, chosen_prices(), reporting_currency="USD")  # no prices at all
    assert valued["value_rc"].to_list() == [Decimal("7.5"), Decimal(0)]


# --- reconcile_valuation -------------------------------------------------------------------------


def test_valuation_compares_values_within_tolerance():
    quotes = chosen_prices(
        ("BTC", "USD", "50000", T0, "kraken"), ("ETH", "USD", "3000", T0, "kraken")
    )
    found = reconcile_valuation(
        balances(("main", "BTC", "1.0001"), ("main", "ETH", "2")),
        balances(("main", "BTC", "1"), ("main", "ETH", "1")),
        quotes,
        rules(absolute="5"),
        reporting_currency="USD",
    )
    assert dict(found.schema) == BREAKS
    row = found.row(0, named=True)
    assert found.height == 1 and row["break_key"] == "valuation|main|ETH|value"
    assert (row["internal_value"], row["external_value"]) == (Decimal(6000), Decimal(3000))
    assert row["difference"] == Decimal(3000) and row["suggested_value"] == Decimal(3000)


def test_missing_price_of_a_held_asset_is_a_break_never_a_zero():
    found = reconcile_valuation(
        balances(("main", "DOGE", "100"), ("desk", "DOGE", "5")),
        balances(("main", "DOGE", "100")),
        chosen_prices(),
        rules(),
        reporting_currency="USD",
    )
    row = found.row(0, named=True)
    assert found.height == 1
    assert row["break_key"] == "valuation||DOGE|price" and row["field"] == "price"
    assert row["causes"] == [causes.MISSING_PRICE]
    assert json.loads(row["details"])["causes"][causes.MISSING_PRICE]["accounts"] == [
        "desk",
        "main",
    ]


def test_stale_price_is_a_break_and_still_values_with_last_known_good():
    quotes = chosen_prices(("SOL", "USD", "100", T0 - 10 * MINUTE, "kraken"), lkg=True)
    found = reconcile_valuation(
        balances(("main", "SOL", "3")),
        balances(("main", "SOL", "2")),
        quotes,
        rules(),
        reporting_currency="USD",
    )
    assert found["break_key"].to_list() == ["valuation|main|SOL|value", "valuation||SOL|price"]
    assert found["causes"].to_list()[1] == [causes.STALE_PRICE]
    assert found["difference"][0] == Decimal(100)


def test_stale_unusable_price_is_a_stale_break_without_a_value_break():
    quotes = chosen_prices(("SOL", "USD", "100", T0 - 10 * MINUTE, "kraken"))
    found = reconcile_valuation(
        balances(("main", "SOL", "3")),
        balances(("main", "SOL", "2")),
        quotes,
        rules(),
        reporting_currency="USD",
    )
    assert found["break_key"].to_list() == ["valuation||SOL|price"]
    assert found["causes"].to_list() == [[causes.STALE_PRICE]]


def test_an_asset_held_by_nobody_needs_no_price():
    found = reconcile_valuation(
        balances(("main", "DOGE", "0")),
        balances(("main", "DOGE", "0")),
        chosen_prices(),
        rules(),
        reporting_currency="USD",
    )
    assert found.height == 0


def test_valuation_break_causes_come_from_quantities():
    found = reconcile_valuation(
        balances(("main", "BTC", "-2")),
        balances(("main", "BTC", "2")),
        chosen_prices(("BTC", "USD", "3", T0, "kraken")),
        rules(),
        reporting_currency="USD",
    )
    assert found["causes"].to_list() == [[causes.SIGN_FLIP]]
    assert found["difference"].to_list() == [Decimal(-12)]


# --- severity ------------------------------------------------------------------------------------

BANDS = [Decimal(100), Decimal(1000), Decimal(10000)]


def test_severity_bands_are_lower_inclusive_and_use_the_absolute_value():
    values = pl.Series(
        [
            Decimal("99.999999999999999999"),
            Decimal(100),
            Decimal(-999),
            Decimal(1000),
            Decimal(9999),
            Decimal(10000),
            Decimal(-(10**9)),
        ],
        dtype=pl.Decimal(38, 18),
    )
    assert severity(values, BANDS).to_list() == [
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]


def test_unknown_value_is_high_never_low():
    assert severity(pl.Series([None], dtype=pl.Decimal(38, 18)), BANDS).to_list() == ["high"]


def test_severity_needs_three_ascending_bands():
    with pytest.raises(ValueError, match="ascending"):
        severity(pl.Series([Decimal(1)], dtype=pl.Decimal(38, 18)), [Decimal(10), Decimal(1)])
