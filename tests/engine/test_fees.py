"""Fee reconciliation: the fee of each matched trade, and fee totals per (account, fee asset)."""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl

from reconciliation.engine.fees import reconcile_fees
from reconciliation.engine.trades import match_trades
from reconciliation.engine.types import BREAKS, EXPOSURE, Override, Tolerance, ToleranceRules
from tests.engine.trade_rows import fill, trades

EXACT = ToleranceRules(Tolerance())


def fees(internal: list[dict], external: list[dict], rules: ToleranceRules = EXACT):
    """Fee breaks by break key, after matching the same trades with the same rules."""
    ins, ext = trades(*internal), trades(*external)
    found = reconcile_fees(match_trades(ins, ext, rules), ins, ext, rules)
    assert found.schema == pl.Schema({**BREAKS, **EXPOSURE})
    assert set(found["type"]) <= {"fees"}
    return {row["break_key"]: row for row in found.iter_rows(named=True)}


def test_equal_fees_give_no_breaks():
    assert fees([fill("i1", exchange_trade_id="K1")], [fill("K1")]) == {}


def test_fee_difference_on_a_matched_trade_is_a_fee_break():
    found = fees([fill("i1", exchange_trade_id="K1", fee="0.12")], [fill("K1")])
    row = found["fees|main|K1|fee"]
    assert (row["field"], row["asset"], row["difference"]) == ("fee", "USD", Decimal("0.02"))
    assert row["suggested_value"] == Decimal("0.1")
    assert json.loads(row["details"])["match_id"] == "main|i1|K1"


def test_fee_difference_changes_the_total_too():
    found = fees([fill("i1", exchange_trade_id="K1", fee="0.12")], [fill("K1")])
    assert found["fees|main|USD|total"]["difference"] == Decimal("0.02")


def test_fee_difference_within_tolerance_is_no_break():
    rules = ToleranceRules(Tolerance(), (Override(Tolerance(absolute=Decimal("0.05"))),))
    assert fees([fill("i1", exchange_trade_id="K1", fee="0.12")], [fill("K1")], rules) == {}


def test_fee_the_book_never_booked_is_unbooked():
    found = fees([fill("i1", exchange_trade_id="K1", fee="0", fee_asset=None)], [fill("K1")])
    assert found["fees|main|K1|fee"]["causes"] == ["unbooked_fee"]
    total = found["fees|main|USD|total"]
    assert (total["internal_value"], total["external_value"]) == (None, Decimal("0.1"))
    assert total["causes"] == ["unbooked_fee"]


def test_fee_charged_in_another_asset_is_a_fee_asset_break():
    found = fees([fill("i1", exchange_trade_id="K1", fee_asset="BTC", fee="0.000001")],
                 [fill("K1")])  # fmt: skip
    row = found["fees|main|K1|fee_asset"]
    assert row["causes"] == ["fee_asset"]
    assert (row["internal_value"], row["external_value"]) == (Decimal("0.000001"), Decimal("0.1"))
    assert "fees|main|K1|fee" not in found


def test_fees_of_unmatched_trades_show_in_the_totals():
    found = fees([fill("i1", exchange_trade_id="K1")], [fill("K1"), fill("K2", at=100, fee="0.3")])
    total = found["fees|main|USD|total"]
    assert (total["internal_value"], total["external_value"]) == (Decimal("0.1"), Decimal("0.4"))
    assert total["causes"] == ["missing_trade"]
    assert json.loads(total["details"])["unmatched_external_fees"] == "0.300000000000000000"


def test_totals_are_per_account_and_asset():
    internal = [fill("i1", exchange_trade_id="K1"), fill("i2", exchange_trade_id="K2",
                                                         account="hedge", fee="0.5")]  # fmt: skip
    found = fees(internal, [fill("K1"), fill("K2", account="hedge", fee="0.2")])
    assert set(found) == {"fees|hedge|K2|fee", "fees|hedge|USD|total"}


def test_total_tolerance_is_the_fee_total_field():
    loose_total = Override(Tolerance(absolute=Decimal("1")), field="fee_total")
    found = fees([fill("i1", exchange_trade_id="K1", fee="0.3")], [fill("K1")],
                 ToleranceRules(Tolerance(), (loose_total,)))  # fmt: skip
    assert set(found) == {"fees|main|K1|fee"}


def test_split_fill_fees_are_compared_as_sums():
    internal = [fill("i1", quantity="3", fee="0.4")]
    external = [fill("K1", quantity="1", fee="0.1"), fill("K2", at=1, quantity="2", fee="0.2")]
    row = fees(internal, external)["fees|main|K1+K2|fee"]
    assert row["difference"] == Decimal("0.1")
    assert row["causes"] == ["split_fill"]


def test_fees_of_book_fills_sharing_an_exchange_id_are_compared_as_sums():
    halves = {"exchange_trade_id": "K1", "quantity": "0.5", "fee": "0.06"}
    found = fees([fill("i1", **halves), fill("i2", at=1, **halves)], [fill("K1", fee="0.11")])
    row = found["fees|main|K1|fee"]
    assert (row["internal_value"], row["difference"]) == (Decimal("0.12"), Decimal("0.01"))
    assert row["causes"] == ["split_fill"]
