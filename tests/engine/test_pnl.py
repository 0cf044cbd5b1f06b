"""Realised PnL from the exchange's trades (FIFO and average cost) against the book's figures."""

from __future__ import annotations

import json
from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from reconciliation.engine.pnl import (
    MISSING_COST_BASIS,
    PNL_METHOD,
    realised_pnl,
    reconcile_pnl,
)
from reconciliation.engine.types import BREAKS, EXPOSURE, PNL, TRADES, Override, Tolerance
from tests.engine import evidence, rules

MARCH = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
APRIL = (datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC))
PLACES = Decimal("1e-18")


def day(month: int, number: int, hour: int = 12) -> datetime:
    return datetime(2025, month, number, hour, tzinfo=UTC)


def trades(*rows: tuple) -> pl.DataFrame:
    """Trades (side, quantity, price, fee, fee_asset, executed_at[, pair[, account]]); ids T1..."""
    records = []
    for number, row in enumerate(rows, start=1):
        side, quantity, price, fee, fee_asset, at, *rest = row
        pair = rest[0] if rest else "BTC/USD"
        base, quote = pair.split("/")
        records.append({
            "trade_id": f"T{number}", "order_id": None, "exchange_trade_id": None,
            "account": rest[1] if len(rest) > 1 else "main", "pair": pair, "base": base,
            "quote": quote, "side": side, "quantity": Decimal(quantity),
            "price": Decimal(price), "fee": Decimal(fee), "fee_asset": fee_asset,
            "executed_at": at,
        })  # fmt: skip
    return pl.DataFrame(records, schema=TRADES)


def book(*rows: tuple) -> pl.DataFrame:
    """Book rows (asset, realised_pnl[, period[, account[, currency]]]); March, main, USD."""
    records = []
    for asset, pnl, *rest in rows:
        start, end = rest[0] if rest else MARCH
        account = rest[1] if len(rest) > 1 else "main"
        currency = rest[2] if len(rest) > 2 else "USD"
        records.append((account, asset, Decimal(pnl), currency, start, end))
    return pl.DataFrame(records, schema=PNL, orient="row")


def computed(frame: pl.DataFrame, method: str, *rows: tuple) -> dict:
    """{(asset, period_start): realised_pnl} for book-like rows (asset, pnl, period...)."""
    result = realised_pnl(frame, book(*rows), method)
    keys = zip(result["asset"], result["period_start"], strict=True)
    return dict(zip(keys, result["realised_pnl"], strict=True))


def partial_breaks(value: str, rule_set=None, method: str = "fifo") -> pl.DataFrame:
    """The breaks of PARTIAL's trades against a March BTC book row of `value`."""
    return reconcile_pnl(book(("BTC", value)), PARTIAL, rule_set or rules(), method=method)


def only(found: pl.DataFrame) -> dict:
    assert found.height == 1, found
    return found.row(0, named=True)


# Buy 1 @ 100 (fee 1 USD), buy 2 @ 130, sell 1.5 @ 150 (fee 1.5 USD).
PARTIAL_ROWS = (
    ("buy", "1", "100", "1", "USD", day(3, 2)),
    ("buy", "2", "130", "0", None, day(3, 3)),
    ("sell", "1.5", "150", "1.5", "USD", day(3, 4)),
)
PARTIAL = trades(*PARTIAL_ROWS)
ETH_ROUND_TRIP = (  # bought at 10, sold at 12
    ("buy", "1", "10", "0", None, day(3, 1), "ETH/USD"),
    ("sell", "1", "12", "0", None, day(3, 2), "ETH/USD"),
)


# --- Hand-computed figures ------------------------------------------------------------------------


def test_fifo_consumes_the_oldest_lot_then_part_of_the_next():
    # Proceeds 225 - 1.5; cost 101 (lot 1 with its fee) + 260 * 0.5 / 2 (half of lot 2).
    result = realised_pnl(PARTIAL, book(("BTC", "0")), "fifo").row(0, named=True)
    assert result["realised_pnl"] == Decimal("57.5")
    assert (result["buys"], result["sells"]) == (2, 1)
    assert result["fees_in_quote"] == Decimal("2.5")
    assert result["sell_fees_in_quote"] == Decimal("1.5")
    assert (result["fees_elsewhere"], result["uncovered_quantity"]) == (0, Decimal(0))


def test_average_cost_takes_the_position_average():
    # Cost 361 for 3 BTC: 1.5 BTC cost 180.5; proceeds 223.5.
    assert computed(PARTIAL, "average", ("BTC", "0")) == {("BTC", MARCH[0]): Decimal("43")}


def test_a_partly_consumed_lot_keeps_its_proportional_rest():
    later = trades(*PARTIAL_ROWS, ("sell", "1.5", "140", "0", None, day(3, 5)))
    # FIFO: the rest of lot 2 is 1.5 BTC costing 195: 210 - 195 = 15, plus 57.5 before.
    assert computed(later, "fifo", ("BTC", "0")) == {("BTC", MARCH[0]): Decimal("72.5")}
    # Average: the rest costs 180.5; 210 - 180.5 = 29.5, plus 43 before.
    assert computed(later, "average", ("BTC", "0")) == {("BTC", MARCH[0]): Decimal("72.5")}


def test_a_fee_in_another_asset_is_not_part_of_realised_pnl():
    frame = trades(
        ("buy", "1", "100", "0.001", "BTC", day(3, 2)),
        ("sell", "1", "110", "0.5", "EUR", day(3, 3)),
    )
    result = realised_pnl(frame, book(("BTC", "0")), "fifo").row(0, named=True)
    assert result["realised_pnl"] == Decimal("10")
    assert result["fees_elsewhere"] == 2
    assert result["fees_in_quote"] == Decimal(0)


def test_trades_before_the_period_build_the_inventory():
    frame = trades(
        ("buy", "2", "100", "0", None, day(2, 10)),
        ("sell", "1", "150", "0", None, day(2, 20)),
        ("sell", "1", "170", "0", None, day(3, 10)),
    )
    result = realised_pnl(frame, book(("BTC", "0")), "fifo").row(0, named=True)
    assert result["realised_pnl"] == Decimal("70")
    assert (result["buys"], result["sells"]) == (0, 1)


def test_sells_after_the_period_end_are_ignored_and_the_end_is_exclusive():
    frame = trades(
        ("buy", "3", "100", "0", None, day(3, 1)),
        ("sell", "1", "150", "0", None, day(3, 31)),
        ("sell", "1", "200", "0", None, MARCH[1]),  # exactly at the end: April's
        ("sell", "1", "900", "0", None, day(4, 2)),
    )
    assert computed(frame, "fifo", ("BTC", "0")) == {("BTC", MARCH[0]): Decimal("50")}


def test_several_periods_share_the_lots():
    frame = trades(
        ("buy", "1", "100", "0", None, day(3, 1)),
        ("buy", "1", "200", "0", None, day(3, 2)),
        ("sell", "1", "250", "0", None, day(3, 3)),
        ("sell", "1", "250", "0", None, day(4, 3)),
    )
    rows = (("BTC", "0", MARCH), ("BTC", "0", APRIL))
    assert computed(frame, "fifo", *rows) == {
        ("BTC", MARCH[0]): Decimal("150"),
        ("BTC", APRIL[0]): Decimal("50"),
    }
    assert computed(frame, "average", *rows) == {
        ("BTC", MARCH[0]): Decimal("100"),
        ("BTC", APRIL[0]): Decimal("100"),
    }


def test_overlapping_periods_each_count_their_own_sells():
    frame = trades(
        ("buy", "2", "100", "0", None, day(3, 1)),
        ("sell", "1", "110", "0", None, day(3, 5)),
        ("sell", "1", "130", "0", None, day(3, 20)),
    )
    week = (day(3, 2, 0), day(3, 8, 0))  # after the buy
    assert computed(frame, "fifo", ("BTC", "0", MARCH), ("BTC", "0", week)) == {
        ("BTC", MARCH[0]): Decimal("40"),
        ("BTC", week[0]): Decimal("10"),
    }


def test_only_trades_of_the_asset_and_currency_count():
    frame = trades(
        ("buy", "1", "100", "0", None, day(3, 1)),
        ("sell", "1", "150", "0", None, day(3, 2)),
        ("buy", "1", "90", "0", None, day(3, 1), "BTC/EUR"),
        ("sell", "1", "80", "0", None, day(3, 2), "BTC/EUR"),
        ("buy", "1", "1", "0", None, day(3, 1), "BTC/USD", "desk"),
        ("sell", "1", "9", "0", None, day(3, 2), "BTC/USD", "desk"),
    )
    assert computed(frame, "fifo", ("BTC", "0")) == {("BTC", MARCH[0]): Decimal("50")}
    eur = realised_pnl(frame, book(("BTC", "0", MARCH, "main", "EUR")), "fifo")
    assert eur["realised_pnl"].to_list() == [Decimal("-10")]


def test_a_sell_beyond_the_inventory_leaves_the_uncovered_share_out():
    frame = trades(
        ("buy", "1", "100", "0", None, day(3, 1)),
        ("sell", "4", "150", "2", "USD", day(3, 2)),
    )
    for method in ("fifo", "average"):
        result = realised_pnl(frame, book(("BTC", "0")), method).row(0, named=True)
        # Proceeds 598; the covered quarter is 149.5, less the cost of 100.
        assert result["realised_pnl"] == Decimal("49.5")
        assert result["uncovered_quantity"] == Decimal("3")


def test_a_buy_after_an_uncovered_sell_opens_a_new_lot():
    frame = trades(
        ("sell", "1", "150", "0", None, day(3, 1)),
        ("buy", "1", "100", "0", None, day(3, 2)),
        ("sell", "1", "120", "0", None, day(3, 3)),
    )
    assert computed(frame, "fifo", ("BTC", "0")) == {("BTC", MARCH[0]): Decimal("20")}


def test_order_is_by_time_then_trade_id_not_row_order():
    frame = trades(
        ("sell", "1", "300", "0", None, day(3, 5)),
        ("buy", "1", "200", "0", None, day(3, 2)),
        ("buy", "1", "100", "0", None, day(3, 2)),  # T3: same time as T2, after it by id
    )
    assert computed(frame, "fifo", ("BTC", "0")) == {("BTC", MARCH[0]): Decimal("100")}
    assert computed(frame.reverse(), "fifo", ("BTC", "0")) == {("BTC", MARCH[0]): Decimal("100")}


def test_rows_equal_in_time_and_id_are_ordered_by_their_fields():
    rows = (
        ("buy", "1", "100", "0", None, day(3, 1)),
        ("buy", "1", "300", "0", None, day(3, 1)),
        ("sell", "1", "200", "0", None, day(3, 2)),
    )
    frame = trades(*rows).with_columns(trade_id=pl.lit("same"))
    for ordered in (frame, frame.reverse()):
        assert computed(ordered, "fifo", ("BTC", "0")) == {("BTC", MARCH[0]): Decimal("100")}


def test_pnl_is_exact_to_18_places_and_rounds_half_even():
    frame = trades(
        # 3 x 0.333333333333333333 = 0.999999999999999999 exactly.
        ("buy", "3", "0.333333333333333333", "0", None, day(3, 1)),
        ("sell", "1", "0.5", "0", None, day(3, 2)),
    )
    assert computed(frame, "fifo", ("BTC", "0")) == {
        ("BTC", MARCH[0]): Decimal("0.166666666666666667")
    }
    # A lot costing 1e-18 for 1 BTC: half of it costs 0.5e-18, rounded half-even to 0; the
    # rest keeps exactly 1e-18, so the two halves still cost the whole lot.
    tiny = trades(
        ("buy", "1", "0.000000000000000001", "0", None, day(3, 1)),
        ("sell", "0.5", "0", "0", None, day(3, 2)),
        ("sell", "0.5", "0", "0", None, day(4, 2)),
    )
    rows = (("BTC", "0", MARCH), ("BTC", "0", APRIL))
    assert computed(tiny, "fifo", *rows) == {
        ("BTC", MARCH[0]): Decimal(0),
        ("BTC", APRIL[0]): Decimal("-0.000000000000000001"),
    }


def test_the_notional_is_rounded_half_even_to_18_places():
    frame = trades(
        ("buy", "1", "0", "0", None, day(3, 1)),
        ("buy", "1", "0", "0", None, day(3, 1, 13)),
        # 0.5 x 1e-18 -> 0 and 1.5 x 1e-18 -> 2e-18 (to the even neighbour).
        ("sell", "0.5", "0.000000000000000001", "0", None, day(3, 2)),
        ("sell", "1.5", "0.000000000000000001", "0", None, day(4, 2)),
    )
    assert computed(frame, "fifo", ("BTC", "0", MARCH), ("BTC", "0", APRIL)) == {
        ("BTC", MARCH[0]): Decimal(0),
        ("BTC", APRIL[0]): Decimal("0.000000000000000002"),
    }


def test_no_trades_compute_zero():
    result = realised_pnl(trades(), book(("BTC", "5")), "fifo")
    assert result["realised_pnl"].to_list() == [Decimal(0)]
    assert result["sells"].to_list() == [0]


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="lifo"):
        reconcile_pnl(book(("BTC", "1")), PARTIAL, rules(), method="lifo")


def test_an_unknown_side_is_refused():
    frame = PARTIAL.with_columns(side=pl.lit("short"))
    with pytest.raises(ValueError, match="short"):
        realised_pnl(frame, book(("BTC", "0")), "fifo")


# --- Breaks ---------------------------------------------------------------------------------------


def test_a_book_equal_to_the_computed_pnl_has_no_breaks_and_the_schema():
    found = partial_breaks("57.5")
    assert found.height == 0
    assert dict(found.schema) == BREAKS | EXPOSURE


def test_a_difference_is_one_break_with_its_figures():
    row = only(partial_breaks("60"))
    assert list(row)[: len(BREAKS)] == list(BREAKS)
    assert row["break_key"] == (
        "pnl|main|BTC|USD|2025-03-01T00:00:00Z|2025-04-01T00:00:00Z|realised_pnl"
    )
    assert (row["type"], row["account"], row["asset"], row["field"]) == (
        "pnl", "main", "BTC", "realised_pnl",
    )  # fmt: skip
    assert row["entity"] == "BTC/USD 2025-03-01..2025-04-01"
    assert (row["internal_value"], row["external_value"]) == (Decimal(60), Decimal("57.5"))
    assert row["difference"] == Decimal("2.5")
    assert row["difference_pct"] == Decimal("4.347826086956521739")
    assert row["suggested_value"] == Decimal("57.5")
    assert (row["value_asset"], row["value_amount"]) == ("USD", Decimal("2.5"))
    details = json.loads(row["details"])
    assert list(details) == sorted(details)
    assert details["method"] == "fifo"
    assert (details["period_start"], details["period_end"]) == (
        "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z",
    )  # fmt: skip
    assert (details["buys"], details["sells"], details["fees_elsewhere"]) == (2, 1, 0)
    assert Decimal(details["fees_in_quote"]) == Decimal("2.5")
    assert Decimal(details["uncovered_quantity"]) == 0
    assert {k: Decimal(v) for k, v in details["tolerance"].items()} == {
        "absolute": 0, "relative": 0,
    }  # fmt: skip


def test_book_rows_of_one_key_are_summed():
    found = reconcile_pnl(book(("BTC", "50"), ("BTC", "7.5")), PARTIAL, rules(), method="fifo")
    assert found.height == 0


def test_no_trades_still_compare_against_zero():
    row = only(reconcile_pnl(book(("BTC", "12")), trades(), rules(), method="fifo"))
    assert (row["internal_value"], row["external_value"]) == (Decimal(12), Decimal(0))
    assert row["difference_pct"] is None


def test_an_empty_book_has_no_breaks():
    assert reconcile_pnl(book(), PARTIAL, rules(), method="fifo").height == 0
    assert reconcile_pnl(pl.DataFrame(), pl.DataFrame(), rules(), method="fifo").height == 0


def test_the_breaks_are_sorted_by_break_key():
    frame = trades(*PARTIAL_ROWS, ("buy", "1", "10", "0", None, day(3, 1), "ETH/USD"))
    found = reconcile_pnl(book(("ETH", "3"), ("BTC", "1")), frame, rules(), method="fifo")
    assert found["break_key"].to_list() == sorted(found["break_key"].to_list())
    assert found["asset"].to_list() == ["BTC", "ETH"]


def test_absolute_and_relative_tolerance_are_inclusive():
    # Computed 57.5: 0.5 absolute allows 58, 1 % relative allows 58.075.
    assert partial_breaks("58", rules("0.5")).height == 0
    assert partial_breaks("58.000000000000000001", rules("0.5")).height == 1
    assert partial_breaks("58.075", rules(relative="0.01")).height == 0
    assert partial_breaks("58.076", rules(relative="0.01")).height == 1


def test_an_override_per_asset_applies_to_that_asset_only():
    frame = trades(*PARTIAL_ROWS, *ETH_ROUND_TRIP)
    overrides = (
        Override(Tolerance(absolute=Decimal("5")), asset="BTC", field="realised_pnl"),
        Override(Tolerance(absolute=Decimal("100")), asset="ETH", field="quantity"),
    )
    found = reconcile_pnl(book(("BTC", "60"), ("ETH", "4")), frame, rules(overrides=overrides),
                          method="fifo")  # fmt: skip
    assert found["asset"].to_list() == ["ETH"]
    assert Decimal(json.loads(found["details"][0])["tolerance"]["absolute"]) == 0


# --- Causes ---------------------------------------------------------------------------------------


def test_sign_flip():
    row = only(partial_breaks("-57.5"))
    assert row["causes"] == ["sign_flip"]
    assert evidence(row) == {"sign_flip": {}}


def test_decimal_shift():
    row = only(partial_breaks("5750"))
    assert row["causes"] == ["decimal_shift"]
    assert evidence(row) == {"decimal_shift": {"power": 2}}


def test_unbooked_fee_is_the_period_sell_fees():
    # The book left the 1.5 USD sell fee out of its proceeds.
    row = only(partial_breaks("59"))
    assert row["causes"] == ["unbooked_fee"]
    assert evidence(row)["unbooked_fee"] == {
        "amount": "1.500000000000000000", "trade_ids": ["T3"], "trades": 1,
    }  # fmt: skip
    # All the period's fees (2.5, with the buy's) are not this rule.
    assert only(partial_breaks("60"))["causes"] == []


def test_pnl_method_names_the_other_method_and_its_value():
    row = only(partial_breaks("43"))
    assert row["causes"] == [PNL_METHOD]
    assert evidence(row)[PNL_METHOD] == {
        "method": "average", "realised_pnl": "43.000000000000000000",
    }  # fmt: skip
    row = only(partial_breaks("57.5", method="average"))
    assert row["causes"] == [PNL_METHOD]
    assert Decimal(evidence(row)[PNL_METHOD]["realised_pnl"]) == Decimal("57.5")


def test_missing_cost_basis():
    frame = trades(
        ("buy", "1", "100", "0", None, day(3, 1)),
        ("sell", "4", "150", "2", "USD", day(3, 2)),
    )
    # The book knew the cost of the 3 BTC bought before the export starts.
    row = only(reconcile_pnl(book(("BTC", "150")), frame, rules(), method="fifo"))
    assert row["causes"] == [MISSING_COST_BASIS]
    assert evidence(row)[MISSING_COST_BASIS] == {
        "trade_ids": ["T2"], "trades": 1, "uncovered_quantity": "3.000000000000000000",
    }  # fmt: skip
    assert Decimal(json.loads(row["details"])["uncovered_quantity"]) == 3


def test_missing_position_finds_unbooked_pnl_in_the_books_periods():
    frame = trades(
        *PARTIAL_ROWS,
        *ETH_ROUND_TRIP,
        ("buy", "1", "10", "0", None, day(4, 1), "SOL/USD"),  # after the period: not asked
        ("sell", "1", "12", "0", None, day(4, 2), "SOL/USD"),
        ("buy", "1", "10", "0", None, day(3, 1), "ADA/USD"),  # sold at cost: nothing to book
        ("sell", "1", "10", "0", None, day(3, 2), "ADA/USD"),
    )
    row = only(reconcile_pnl(book(("BTC", "57.5")), frame, rules(), method="fifo"))
    assert (row["asset"], row["internal_value"], row["external_value"]) == (
        "ETH", None, Decimal(2),
    )  # fmt: skip
    assert row["difference"] == Decimal(-2)
    assert row["causes"] == ["missing_position"]
    assert evidence(row) == {"missing_position": {"missing_side": "internal"}}
    assert row["value_asset"] == "USD"


def test_rounding():
    frame = trades(
        ("buy", "3", "1", "0", None, day(3, 1)),
        ("sell", "1", "1.123", "0", None, day(3, 2)),
    )
    # Computed 0.123; the book kept two places.
    row = only(reconcile_pnl(book(("BTC", "0.12")), frame, rules(), method="fifo"))
    assert row["causes"] == ["rounding"]


def test_causes_are_listed_most_likely_first():
    frame = trades(
        ("buy", "1", "100", "0", None, day(3, 1)),
        ("sell", "2", "150", "0", None, day(3, 2)),
    )
    # Computed 50 with 1 BTC uncovered; the book says -50.
    row = only(reconcile_pnl(book(("BTC", "-50")), frame, rules(), method="fifo"))
    assert row["causes"] == ["sign_flip", MISSING_COST_BASIS]


# --- Properties -----------------------------------------------------------------------------------


def oracle(frame: pl.DataFrame, start: datetime, end: datetime, method: str) -> Decimal:
    """A plain Decimal loop over one lot's trades: the specification, written independently."""
    rows = sorted(frame.filter(pl.col("executed_at") < end).iter_rows(named=True),
                  key=lambda r: (r["executed_at"], r["trade_id"]))  # fmt: skip

    def q18(value: Decimal) -> Decimal:
        return value.quantize(PLACES, rounding=ROUND_HALF_EVEN)

    total, lots, held, cost = Decimal(0), deque(), Decimal(0), Decimal(0)
    with localcontext() as context:
        context.prec = 80
        for row in rows:
            quantity = row["quantity"]
            fee = row["fee"] if row["fee_asset"] == row["quote"] else Decimal(0)
            notional = q18(quantity * row["price"])
            if row["side"] == "buy":
                lots.append([quantity, notional + fee])
                held, cost = held + quantity, cost + notional + fee
                continue
            covered = min(quantity, held)
            if method == "average":
                basis = cost if covered == held else q18(cost * covered / held)
            else:
                basis, need = Decimal(0), quantity
                while need and lots:
                    if lots[0][0] <= need:
                        need -= lots[0][0]
                        basis += lots.popleft()[1]
                    else:
                        part = q18(lots[0][1] * need / lots[0][0])
                        lots[0] = [lots[0][0] - need, lots[0][1] - part]
                        basis, need = basis + part, Decimal(0)
            held, cost = held - covered, cost - basis
            proceeds = notional - fee
            share = proceeds if covered == quantity else q18(proceeds * covered / quantity)
            if start <= row["executed_at"]:
                total += share - basis
    return total


amounts = st.integers(1, 10**21).map(lambda n: Decimal(n).scaleb(-18))
prices = st.integers(0, 10**24).map(lambda n: Decimal(n).scaleb(-18))
fees = st.integers(0, 10**18).map(lambda n: Decimal(n).scaleb(-18))
moments = st.integers(0, 60 * 24).map(lambda m: day(3, 1, 0) + timedelta(hours=m))
trade_rows = st.tuples(
    st.sampled_from(["buy", "sell"]), amounts, prices, fees,
    st.sampled_from(["USD", "BTC", None]), moments, st.sampled_from(["BTC/USD", "ETH/USD"]),
)  # fmt: skip
histories = st.lists(trade_rows, max_size=25).map(lambda rows: trades(*rows))
splits = st.integers(4, 59).map(lambda d: day(3, 1, 0) + timedelta(days=d))


def periods_of(frame: pl.DataFrame, split: datetime) -> pl.DataFrame:
    rows = [(asset, "0", period) for asset in ("BTC", "ETH")
            for period in ((day(3, 5, 0), split), (split, day(4, 30, 0)))]  # fmt: skip
    return book(*rows)


@settings(max_examples=60, deadline=None)
@given(histories, splits, st.sampled_from(["fifo", "average"]))
def test_the_engine_agrees_with_a_plain_decimal_loop(frame, split, method):
    result = realised_pnl(frame, periods_of(frame, split), method)
    for asset, start, end, value in result.select(
        "asset", "period_start", "period_end", "realised_pnl"
    ).iter_rows():
        lot = frame.filter(pl.col("base") == asset)
        assert value == oracle(lot, start, end, method)


@settings(max_examples=40, deadline=None)
@given(histories, splits, st.sampled_from(["fifo", "average"]))
def test_a_book_equal_to_the_computed_pnl_has_no_breaks(frame, split, method):
    figures = realised_pnl(frame, periods_of(frame, split), method)
    assert reconcile_pnl(figures, frame, rules(), method=method).height == 0


@settings(max_examples=40, deadline=None)
@given(histories, splits, st.sampled_from(["fifo", "average"]), st.randoms(use_true_random=False))
def test_shuffling_trade_rows_changes_nothing(frame, split, method, random):
    periods = periods_of(frame, split).with_columns(realised_pnl=pl.lit(Decimal("1.5")))
    shuffled = frame.sample(fraction=1, shuffle=True, seed=random.randint(0, 10**6))
    assert_frame_equal(
        realised_pnl(shuffled, periods, method), realised_pnl(frame, periods, method)
    )
    assert_frame_equal(
        reconcile_pnl(periods, shuffled, rules(), method=method),
        reconcile_pnl(periods, frame, rules(), method=method),
    )


round_trips = st.lists(
    st.tuples(st.lists(st.tuples(amounts, prices, fees), min_size=1, max_size=4), prices, fees),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(round_trips)
def test_fifo_and_average_agree_when_every_sell_empties_the_position(trips):
    rows, at = [], day(3, 1, 0)
    for buys, price, fee in trips:
        for quantity, buy_price, buy_fee in buys:
            at += timedelta(hours=1)
            rows.append(("buy", quantity, buy_price, buy_fee, "USD", at))
        at += timedelta(hours=1)
        sold = sum(quantity for quantity, _, _ in buys)
        rows.append(("sell", sold, price, fee, "USD", at))
    frame = trades(*rows)
    periods = book(("BTC", "0", MARCH), ("BTC", "0", (day(3, 1, 6), day(3, 2, 0))))
    assert_frame_equal(
        realised_pnl(frame, periods, "fifo"), realised_pnl(frame, periods, "average")
    )
