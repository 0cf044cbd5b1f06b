"""Trade matching: ids, time window, split fills, what is left, and breaks of matched trades."""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl
import pytest

from reconciliation.engine.trades import MATCH_COLUMNS, duplicates, match_trades
from reconciliation.engine.types import (
    BREAKS,
    EXPOSURE,
    Override,
    Tolerance,
    ToleranceRules,
)
from tests.engine.trade_rows import fill, trades

RULES = ToleranceRules(Tolerance())  # exact, 5 s window
WINDOW_RULE = "pair+side+time(5s)+quantity(abs 0, rel 0)+price(abs 0, rel 0)"


def run(internal: list[dict], external: list[dict], rules: ToleranceRules = RULES):
    return match_trades(trades(*internal), trades(*external), rules)


def matched(result) -> set[tuple]:
    """(rule, internal ids, external ids) of every match."""
    rows = result.matches.select("rule", "internal_ids", "external_ids").iter_rows()
    return {(rule, tuple(i), tuple(e)) for rule, i, e in rows}


def breaks_by_key(result) -> dict[str, dict]:
    return {row["break_key"]: row for row in result.breaks.iter_rows(named=True)}


# --- Step a: ids ---------------------------------------------------------------------------------


def test_exchange_trade_id_matches_the_exchange_trade():
    result = run([fill("i1", exchange_trade_id="K1")], [fill("K1", at=60)])
    assert matched(result) == {("id", ("i1",), ("K1",))}


def test_trade_id_matches_when_no_exchange_id_is_booked():
    result = run([fill("K1")], [fill("K1", at=60)])
    assert matched(result) == {("id", ("K1",), ("K1",))}


def test_booked_exchange_id_that_does_not_exist_does_not_fall_back_to_trade_id():
    result = run([fill("K2", exchange_trade_id="K9", at=100)], [fill("K2")])
    assert result.matches.is_empty()


def test_id_match_needs_the_same_account():
    result = run([fill("i1", exchange_trade_id="K1", account="other")], [fill("K1", at=60)])
    assert result.matches.is_empty()


def test_book_fills_sharing_an_exchange_id_match_it_as_one_split():
    internal = [fill("i1", exchange_trade_id="K1", quantity="0.5", price="99", fee="0.04"),
                fill("i2", at=1, exchange_trade_id="K1", quantity="0.5", price="101",
                     fee="0.06")]  # fmt: skip
    result = run(internal, [fill("K1")])
    assert matched(result) == {("id:many-to-one", ("i1", "i2"), ("K1",))}
    row = result.matches.row(0, named=True)
    assert (row["internal_quantity"], row["internal_price"], row["internal_fee"]) == (
        Decimal(1), Decimal(100), Decimal("0.1"),
    )  # fmt: skip
    assert result.breaks.is_empty()


def test_book_fills_sharing_an_exchange_id_that_do_not_sum_to_it_give_one_split_fill_break():
    internal = [fill("i1", exchange_trade_id="K1", quantity="0.5", fee="0.05"),
                fill("i2", at=1, exchange_trade_id="K1", quantity="0.75", fee="0.05")]  # fmt: skip
    result = run(internal, [fill("K1", quantity="1.5")])
    assert matched(result) == {("id:many-to-one", ("i1", "i2"), ("K1",))}
    assert list(breaks_by_key(result)) == ["trades|main|K1|quantity"]
    row = breaks_by_key(result)["trades|main|K1|quantity"]
    assert (row["internal_value"], row["external_value"]) == (Decimal("1.25"), Decimal("1.5"))
    assert row["causes"] == ["split_fill"]


def test_three_book_fills_sharing_an_exchange_id_match_it_at_their_vwap():
    internal = [fill("i3", at=2, exchange_trade_id="K1", quantity="0.5", price="100.4", fee="0.05"),
                fill("i1", exchange_trade_id="K1", quantity="0.2", price="99", fee="0.02"),
                fill("i2", at=1, exchange_trade_id="K1", quantity="0.3", fee="0.03")]  # fmt: skip
    result = run(internal, [fill("K1"), fill("K2", at=100)])
    assert matched(result) == {("id:many-to-one", ("i1", "i2", "i3"), ("K1",))}
    assert result.matches["internal_price"].to_list() == [Decimal(100)]
    assert set(breaks_by_key(result)) == {"trades|main|missing|K2"}


def test_a_piece_booked_hours_off_is_a_time_break_of_the_split():
    halves = {"exchange_trade_id": "K1", "quantity": "0.5", "fee": "0.05"}
    internal = [fill("i1", **halves), fill("i2", at=-3600, **halves)]
    row = breaks_by_key(run(internal, [fill("K1")]))["trades|main|K1|executed_at"]
    assert (row["difference"], row["causes"]) == (Decimal(-3600), ["timezone", "timing"])


def test_book_fills_sharing_an_exchange_id_on_different_sides_are_not_grouped():
    internal = [fill("i1", exchange_trade_id="K1", quantity="0.5"),
                fill("i2", at=1, exchange_trade_id="K1", quantity="0.5", side="sell")]  # fmt: skip
    assert matched(run(internal, [fill("K1")])) == {("id", ("i1",), ("K1",))}


# --- Step b: time window -------------------------------------------------------------------------


def test_trade_without_ids_matches_within_the_window_and_records_its_rule():
    result = run([fill("i1", at=3)], [fill("K1")])
    assert matched(result) == {(WINDOW_RULE, ("i1",), ("K1",))}
    assert result.breaks.is_empty()


def test_window_match_takes_the_nearest_in_time():
    result = run([fill("i1", at=10)], [fill("K1", at=6), fill("K2", at=11)])
    assert matched(result) == {(WINDOW_RULE, ("i1",), ("K2",))}


def test_trade_outside_the_window_is_not_matched():
    result = run([fill("i1", at=5.000001)], [fill("K1")])
    assert result.matches.is_empty()
    assert sorted(result.breaks["break_key"]) == [
        "trades|main|missing|K1", "trades|main|missing|i1",
    ]  # fmt: skip


def test_window_match_needs_quantity_within_tolerance():
    result = run([fill("i1", quantity="1.0001")], [fill("K1")])
    assert result.matches.is_empty()


def test_window_match_accepts_price_within_tolerance_and_reports_no_break():
    rules = ToleranceRules(Tolerance(), (Override(Tolerance(relative=Decimal("0.001")),
                                                  field="price"),))  # fmt: skip
    result = run([fill("i1", price="100.1")], [fill("K1")], rules)
    assert [r.startswith("pair+side+time(5s)") for r in result.matches["rule"]] == [True]
    assert "price(abs 0, rel 0.001)" in result.matches["rule"][0]
    assert result.breaks.is_empty()


def test_window_match_needs_the_same_side():
    result = run([fill("i1", side="sell")], [fill("K1")])
    assert result.matches.is_empty()


def test_window_match_prefers_the_exact_quantity_over_a_nearer_trade():
    result = run([fill("i1", quantity="2")], [fill("K1", at=1), fill("K2", at=3, quantity="2")])
    assert matched(result) == {(WINDOW_RULE, ("i1",), ("K2",))}


def test_tolerance_is_resolved_per_pair():
    price = Override(Tolerance(relative=Decimal("0.01")), asset="ETH/USD", field="price")
    rules = ToleranceRules(Tolerance(), (price,))
    eth = {"pair": "ETH/USD", "base": "ETH", "price": "100.5"}
    result = run([fill("i1", **eth), fill("i2", price="100.5")], [fill("K1", **eth | {
        "price": "100"}), fill("K2")], rules)  # fmt: skip
    assert {m[1] for m in matched(result)} == {("i1",)}


# --- Step c: split fills -------------------------------------------------------------------------


def test_one_internal_fill_matches_several_exchange_trades():
    internal = [fill("i1", quantity="3", price="101", fee="0.3", order_id="O1")]
    external = [
        fill("K1", at=-1, quantity="1", price="100", fee="0.1", order_id="O1"),
        fill("K2", at=1, quantity="2", price="101.5", fee="0.2", order_id="O1"),
    ]
    result = run(internal, external)
    assert matched(result) == {("split:one-to-many", ("i1",), ("K1", "K2"))}
    row = result.matches.row(0, named=True)
    assert row["external_quantity"] == Decimal(3)
    assert row["external_price"] == Decimal(101)  # (1*100 + 2*101.5) / 3
    assert result.breaks.is_empty()


def test_several_internal_fills_match_one_exchange_trade_at_their_vwap():
    internal = [fill("i1", quantity="0.4", price="99", fee="0.04"),
                fill("i2", at=1, quantity="0.6", price="101", fee="0.06")]  # fmt: skip
    result = run(internal, [fill("K1", price="100.2")])
    assert matched(result) == {("split:many-to-one", ("i1", "i2"), ("K1",))}
    row = result.matches.row(0, named=True)
    assert (row["internal_quantity"], row["internal_price"]) == (Decimal(1), Decimal("100.2"))
    assert result.breaks.is_empty()


def test_split_vwap_is_rounded_to_18_places():
    internal = [fill("i1", quantity="1", price="1"), fill("i2", at=1, quantity="2", price="2")]
    result = run(internal, [fill("K1", quantity="3", price="1.666666666666666667", fee="0.2")],
                 ToleranceRules(Tolerance(relative=Decimal("0.000001"))))  # fmt: skip
    assert result.matches["internal_price"].to_list() == [Decimal("1.666666666666666667")]


def test_split_pieces_need_the_same_order_id_when_both_carry_one():
    internal = [fill("i1", quantity="3", order_id="O1")]
    external = [fill("K1", quantity="1", order_id="O1"),
                fill("K2", at=1, quantity="2", order_id="O2")]  # fmt: skip
    assert run(internal, external).matches.is_empty()


def test_split_is_not_matched_when_its_vwap_is_outside_price_tolerance():
    internal = [fill("i1", quantity="3", price="100")]
    external = [fill("K1", quantity="1", price="100"), fill("K2", at=1, quantity="2", price="101")]
    assert run(internal, external).matches.is_empty()


def test_split_pieces_must_be_within_the_window_of_the_single_fill():
    internal = [fill("i1", quantity="3")]
    external = [fill("K1", quantity="1"), fill("K2", at=6, quantity="2")]
    assert run(internal, external).matches.is_empty()


def test_split_fee_difference_is_a_fee_break_caused_by_the_split():
    internal = [fill("i1", quantity="3", fee="0.2")]
    external = [fill("K1", quantity="1", fee="0.1"), fill("K2", at=1, quantity="2", fee="0.2")]
    row = breaks_by_key(run(internal, external))["trades|main|K1+K2|fee"]
    assert row["causes"] == ["split_fill"]
    assert (row["internal_value"], row["external_value"]) == (Decimal("0.2"), Decimal("0.3"))


# --- Step d: what is left ------------------------------------------------------------------------


def test_unmatched_rows_on_both_sides_are_missing_trade_breaks():
    result = run([fill("i1", quantity="2")], [fill("K1", at=100, quantity="3")])
    found = breaks_by_key(result)
    assert set(found) == {"trades|main|missing|i1", "trades|main|missing|K1"}
    internal_only, external_only = found["trades|main|missing|i1"], found["trades|main|missing|K1"]
    assert internal_only["field"] == "trade" and internal_only["asset"] == "BTC"
    assert internal_only["causes"] == ["missing_external"]
    assert (internal_only["internal_value"], internal_only["external_value"]) == (Decimal(2), None)
    assert internal_only["suggested_value"] == Decimal(0)
    assert external_only["causes"] == ["missing_internal"]
    assert (external_only["internal_value"], external_only["external_value"]) == (None, Decimal(3))
    assert external_only["difference"] == Decimal(-3)
    assert external_only["difference_pct"] == Decimal(-100)
    assert external_only["suggested_value"] == Decimal(3)


def test_a_row_is_never_matched_twice():
    # Both internal rows could claim K1 (same size, inside the window): the nearer one gets it.
    result = run([fill("i1", at=2), fill("i2", at=-1)], [fill("K1")])
    assert matched(result) == {(WINDOW_RULE, ("i2",), ("K1",))}
    assert set(breaks_by_key(result)) == {"trades|main|missing|i1"}


def test_an_exchange_id_booked_twice_matches_once():
    internal = [fill("i1", exchange_trade_id="K1", at=30), fill("i2", exchange_trade_id="K1")]
    result = run(internal, [fill("K1")])
    assert matched(result) == {("id", ("i2",), ("K1",))}
    assert set(breaks_by_key(result)) == {"trades|main|missing|i1"}


def test_an_unmatched_row_booked_twice_is_flagged_as_a_duplicate():
    internal = [fill("i1", exchange_trade_id="K1"), fill("i2", at=0.5)]
    found = breaks_by_key(run(internal, [fill("K1")]))
    assert found["trades|main|missing|i2"]["causes"] == ["missing_external", "duplicate"]


def test_every_match_records_its_rule():
    internal = [fill("i1", exchange_trade_id="K1"), fill("i2", at=100, quantity="2"),
                fill("i3", at=200, quantity="3"), fill("i4", at=300, quantity="0.5"),
                fill("i5", at=300.5, quantity="0.5")]  # fmt: skip
    external = [fill("K1"), fill("K2", at=101, quantity="2"), fill("K3", at=200, quantity="1"),
                fill("K4", at=201, quantity="2"), fill("K5", at=300, quantity="1")]  # fmt: skip
    rules = {rule.split("(")[0] for rule in run(internal, external).matches["rule"]}
    assert rules == {"id", "pair+side+time", "split:one-to-many", "split:many-to-one"}


# --- Breaks of matched trades --------------------------------------------------------------------


def test_price_difference_is_a_price_break_with_the_exchange_price_suggested():
    result = run([fill("i1", exchange_trade_id="K1", price="101")], [fill("K1")])
    row = breaks_by_key(result)["trades|main|K1|price"]
    assert (row["type"], row["field"], row["asset"], row["entity"]) == (
        "trades", "price", "USD", "K1",
    )  # fmt: skip
    assert (row["internal_value"], row["external_value"]) == (Decimal(101), Decimal(100))
    assert (row["difference"], row["difference_pct"]) == (Decimal(1), Decimal(1))
    assert row["suggested_value"] == Decimal(100)
    details = json.loads(row["details"])
    assert details["rule"] == "id" and details["internal_ids"] == ["i1"]


def test_quantity_difference_is_a_quantity_break_in_the_base_asset():
    result = run([fill("i1", exchange_trade_id="K1", quantity="1.5")], [fill("K1")])
    row = breaks_by_key(result)["trades|main|K1|quantity"]
    assert (row["asset"], row["difference"]) == ("BTC", Decimal("0.5"))


def test_fee_difference_is_a_fee_break():
    result = run([fill("i1", exchange_trade_id="K1", fee="0.2")], [fill("K1")])
    row = breaks_by_key(result)["trades|main|K1|fee"]
    assert (row["asset"], row["difference"], row["suggested_value"]) == (
        "USD", Decimal("0.1"), Decimal("0.1"),
    )  # fmt: skip


def test_fee_in_another_asset_is_a_fee_asset_break():
    result = run([fill("i1", exchange_trade_id="K1", fee_asset="BTC")], [fill("K1")])
    row = breaks_by_key(result)["trades|main|K1|fee_asset"]
    assert row["causes"] == ["fee_asset"] and row["difference"] is None
    details = json.loads(row["details"])
    assert (details["internal_fee_asset"], details["external_fee_asset"]) == ("BTC", "USD")
    assert "trades|main|K1|fee" not in breaks_by_key(result)


def test_unbooked_fee_is_named():
    result = run([fill("i1", exchange_trade_id="K1", fee="0", fee_asset=None)], [fill("K1")])
    assert breaks_by_key(result)["trades|main|K1|fee"]["causes"] == ["unbooked_fee"]


def test_time_beyond_the_window_is_an_executed_at_break_in_exact_seconds():
    result = run([fill("i1", exchange_trade_id="K1", at=7.000001)], [fill("K1")])
    row = breaks_by_key(result)["trades|main|K1|executed_at"]
    assert row["difference"] == Decimal("7.000001")
    assert row["causes"] == ["timing"]
    assert row["internal_value"] - row["external_value"] == Decimal("7.000001")


def test_time_off_by_whole_hours_is_a_timezone_shift():
    result = run([fill("i1", exchange_trade_id="K1", at=-7200)], [fill("K1")])
    assert breaks_by_key(result)["trades|main|K1|executed_at"]["causes"] == ["timezone", "timing"]


def test_time_within_the_window_on_an_id_match_is_no_break():
    assert run([fill("i1", exchange_trade_id="K1", at=5)], [fill("K1")]).breaks.is_empty()


def test_difference_below_the_coarser_sides_last_place_is_rounding():
    result = run([fill("i1", exchange_trade_id="K1", price="100.12")],
                 [fill("K1", price="100.123")])  # fmt: skip
    assert breaks_by_key(result)["trades|main|K1|price"]["causes"] == ["rounding"]


def test_value_off_by_a_power_of_ten_is_a_decimal_shift():
    result = run([fill("i1", exchange_trade_id="K1", quantity="10")], [fill("K1")])
    assert breaks_by_key(result)["trades|main|K1|quantity"]["causes"] == ["decimal_shift"]


def test_opposite_side_on_an_id_match_is_a_side_break():
    result = run([fill("i1", exchange_trade_id="K1", side="sell")], [fill("K1")])
    row = breaks_by_key(result)["trades|main|K1|side"]
    assert row["causes"] == ["sign_flip"]
    assert json.loads(row["details"])["external"] == "buy"


def test_difference_within_tolerance_is_no_break():
    rules = ToleranceRules(Tolerance(absolute=Decimal("0.5")))
    assert run(
        [fill("i1", exchange_trade_id="K1", price="100.5")], [fill("K1")], rules
    ).breaks.is_empty()


# --- Shapes and inputs ---------------------------------------------------------------------------


def test_matches_and_breaks_have_the_contract_columns():
    result = run([fill("i1", exchange_trade_id="K1", price="101"), fill("i2", at=50)], [fill("K1")])
    assert result.matches.columns == MATCH_COLUMNS
    assert result.matches.schema["internal_ids"] == pl.List(pl.String)
    assert result.breaks.schema == pl.Schema({**BREAKS, **EXPOSURE})


def test_optional_columns_may_be_absent():
    internal = trades(fill("K1")).drop("order_id", "exchange_trade_id", "base", "quote")
    result = match_trades(internal, trades(fill("K1")), RULES)
    assert matched(result) == {("id", ("K1",), ("K1",))}


def test_empty_inputs_give_empty_results():
    result = match_trades(trades(), trades(), RULES)
    assert result.matches.is_empty() and result.breaks.is_empty()


def test_relative_tolerance_above_one_is_refused():
    with pytest.raises(ValueError, match="out of range"):
        run([fill("i1")], [fill("K1")], ToleranceRules(Tolerance(relative=Decimal(2))))


# --- Duplicates ----------------------------------------------------------------------------------


def test_same_fill_booked_twice_within_a_second_is_a_duplicate():
    found = duplicates(trades(fill("i1"), fill("i2", at=0.9), fill("i3", at=5)))
    assert found["break_key"].to_list() == ["trades|main|duplicate|internal|i2"]
    row = found.row(0, named=True)
    assert (row["causes"], row["suggested_value"]) == (["duplicate"], Decimal(0))
    assert json.loads(row["details"])["duplicate_of"] == "i1"


def test_fills_that_differ_in_size_are_not_duplicates():
    assert duplicates(trades(fill("i1"), fill("i2", at=0.5, quantity="1.1"))).is_empty()


def test_exchange_duplicates_are_keyed_by_side():
    found = duplicates(trades(fill("K1"), fill("K2", at=0.1)), side="external")
    row = found.row(0, named=True)
    assert row["break_key"] == "trades|main|duplicate|external|K2"
    assert (row["internal_value"], row["external_value"]) == (None, Decimal(1))


def test_breaks_of_an_id_booked_twice_keep_distinct_keys():
    result = run([], [fill("K1", quantity="1"), fill("K1", at=100, quantity="2")])
    assert sorted(result.breaks["break_key"]) == [
        "trades|main|missing|K1", "trades|main|missing|K1#2",
    ]  # fmt: skip


# --- What each break is worth (valued later in the reporting currency) ---------------------------


@pytest.mark.parametrize(
    ("internal", "key", "worth"),
    [
        # 2.5 BTC traded 1.2 USD apart: 3 USD.
        ({"price": "101.2", "quantity": "2.5"}, "price", ("USD", "3")),
        ({"quantity": "1.25"}, "quantity", ("BTC", "0.25")),
        ({"fee": "0.35"}, "fee", ("USD", "0.25")),
        ({"fee_asset": "BTC", "fee": "0.0001"}, "fee_asset", ("USD", "0.1")),
        ({"side": "sell", "quantity": "2"}, "side", ("BTC", "4")),  # long instead of short
        ({"at": 60}, "executed_at", ("BTC", "0")),  # the same amounts, another time
    ],
)
def test_each_break_says_what_it_is_worth_and_in_which_asset(internal, key, worth):
    at = internal.pop("at", 0)
    external = {"quantity": internal["quantity"]} if key in ("price", "side") else {}
    result = run([fill("i1", at, exchange_trade_id="K1", **internal)], [fill("K1", **external)])
    row = breaks_by_key(result)[f"trades|main|K1|{key}"]
    assert (row["value_asset"], row["value_amount"]) == (worth[0], Decimal(worth[1]))


def test_a_missing_trade_is_worth_its_notional_in_the_quote_asset():
    result = run([fill("i1", quantity="0.75", price="100.5")], [])
    row = breaks_by_key(result)["trades|main|missing|i1"]
    assert (row["value_asset"], row["value_amount"]) == ("USD", Decimal("75.375"))
