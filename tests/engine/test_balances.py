"""Balance reconciliation, balances from a ledger, and where a divergence started."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import polars as pl
import pytest

from reconciliation.engine.balances import (
    balances_from_ledger,
    reconcile_balances,
    where_divergence_started,
)
from reconciliation.engine.types import BREAKS, Override, Tolerance
from tests.engine import T0, balances, ledger, rules


def test_identical_sides_have_no_breaks_and_the_contract_schema():
    side = balances(("main", "BTC", "1.5"), ("main", "ETH", "20"))
    found = reconcile_balances(side, side, rules())
    assert found.height == 0
    assert dict(found.schema) == BREAKS


def test_a_difference_is_one_break_with_its_figures():
    found = reconcile_balances(
        balances(("main", "BTC", "1.5")), balances(("main", "BTC", "1.2")), rules()
    )
    assert dict(found.schema) == BREAKS
    row = found.row(0, named=True)
    assert row["type"] == "position"
    assert row["break_key"] == "position|main|BTC|quantity"
    assert (row["account"], row["asset"], row["entity"], row["field"]) == (
        "main",
        "BTC",
        "BTC",
        "quantity",
    )
    assert row["internal_value"] == Decimal("1.5")
    assert row["external_value"] == Decimal("1.2")
    assert row["difference"] == Decimal("0.3")
    assert row["difference_pct"] == Decimal("25")
    assert row["suggested_value"] == Decimal("1.2")


def test_difference_pct_is_rounded_half_even_to_18_places():
    found = reconcile_balances(
        balances(("main", "BTC", "2")), balances(("main", "BTC", "3")), rules()
    )
    assert found["difference_pct"][0] == Decimal("-33.333333333333333333")


def test_type_names_the_break_key():
    found = reconcile_balances(
        balances(("main", "USD", "10")), balances(("main", "USD", "9")), rules(), type="cash"
    )
    assert found["break_key"].to_list() == ["cash|main|USD|quantity"]
    assert found["type"].to_list() == ["cash"]


def test_details_hold_the_rule_used():
    found = reconcile_balances(
        balances(("main", "BTC", "2")), balances(("main", "BTC", "1")), rules("0.5", "0.01")
    )
    rule = json.loads(found["details"][0])["rule"]
    assert Decimal(rule["absolute"]) == Decimal("0.5")
    assert Decimal(rule["relative"]) == Decimal("0.01")


def test_absolute_tolerance_is_inclusive():
    internal = balances(("main", "BTC", "1.0001"), ("main", "ETH", "1.00010001"))
    external = balances(("main", "BTC", "1"), ("main", "ETH", "1"))
    found = reconcile_balances(internal, external, rules(absolute="0.0001"))
    assert found["asset"].to_list() == ["ETH"]


def test_relative_tolerance_is_of_the_external_value_and_inclusive():
    internal = balances(("main", "BTC", "1001"), ("main", "ETH", "1001.000000000000000001"))
    external = balances(("main", "BTC", "1000"), ("main", "ETH", "1000"))
    found = reconcile_balances(internal, external, rules(relative="0.001"))
    assert found["asset"].to_list() == ["ETH"]


def test_the_larger_of_absolute_and_relative_applies():
    internal = balances(("main", "BTC", "100.5"), ("main", "ETH", "1.5"))
    external = balances(("main", "BTC", "100"), ("main", "ETH", "1"))
    found = reconcile_balances(internal, external, rules(absolute="0.1", relative="0.005"))
    assert found["asset"].to_list() == ["ETH"]


def test_the_most_specific_override_wins():
    overrides = (
        Override(Tolerance(absolute=Decimal("10")), asset="BTC"),
        Override(Tolerance(absolute=Decimal("0")), account="desk", asset="BTC"),
    )
    internal = balances(("main", "BTC", "5"), ("desk", "BTC", "5"), ("main", "ETH", "5"))
    external = balances(("main", "BTC", "1"), ("desk", "BTC", "1"), ("main", "ETH", "1"))
    found = reconcile_balances(internal, external, rules("0", overrides=overrides))
    assert found["break_key"].to_list() == [
        "position|desk|BTC|quantity",
        "position|main|ETH|quantity",
    ]


def test_an_override_for_another_field_does_not_apply():
    overrides = (Override(Tolerance(absolute=Decimal("10")), field="value"),)
    found = reconcile_balances(
        balances(("main", "BTC", "5")), balances(("main", "BTC", "1")), rules(overrides=overrides)
    )
    assert found.height == 1


def test_a_missing_side_counts_as_zero_and_its_value_is_null():
    found = reconcile_balances(
        balances(("main", "BTC", "2")), balances(("main", "ETH", "3")), rules()
    )
    btc, eth = found.rows(named=True)
    assert (btc["internal_value"], btc["external_value"]) == (Decimal(2), None)
    assert btc["difference"] == Decimal(2) and btc["difference_pct"] is None
    assert btc["suggested_value"] == Decimal(0)
    assert (eth["internal_value"], eth["external_value"]) == (None, Decimal(3))
    assert eth["difference"] == Decimal(-3) and eth["difference_pct"] == Decimal(-100)


def test_a_missing_side_against_zero_is_no_break():
    found = reconcile_balances(
        balances(("main", "BTC", "0")), balances(("main", "ETH", "0")), rules()
    )
    assert found.height == 0


def test_difference_pct_is_null_when_external_is_zero():
    found = reconcile_balances(
        balances(("main", "BTC", "1")), balances(("main", "BTC", "0")), rules()
    )
    assert found["difference_pct"].to_list() == [None]


def test_rows_of_one_key_are_summed():
    internal = balances(("main", "BTC", "1"), ("main", "BTC", "0.5"))
    found = reconcile_balances(internal, balances(("main", "BTC", "1.5")), rules())
    assert found.height == 0


def test_one_unit_in_the_18th_place_is_a_break():
    found = reconcile_balances(
        balances(("main", "BTC", "12345678901234567890.000000000000000001")),
        balances(("main", "BTC", "12345678901234567890")),
        rules(),
    )
    assert found["difference"].to_list() == [Decimal("0.000000000000000001")]


def test_breaks_are_sorted_by_break_key():
    internal = balances(("z", "BTC", "1"), ("a", "ETH", "1"), ("a", "BTC", "1"))
    found = reconcile_balances(internal, balances(), rules())
    assert found["break_key"].to_list() == sorted(found["break_key"].to_list())


def test_time_window_argument_overrides_the_rules_window():
    external_ledger = ledger({"amount": "0.5", "occurred_at": T0 + timedelta(seconds=30)})
    kwargs = {
        "internal_ledger": ledger({"amount": "1.5", "occurred_at": T0 - timedelta(hours=1)}),
        "external_ledger": external_ledger,
    }
    internal, external = (
        balances(("main", "BTC", "1.5"), as_of=T0),
        balances(("main", "BTC", "1"), as_of=T0),
    )
    assert reconcile_balances(internal, external, rules(), **kwargs)["causes"][0].to_list() == []
    found = reconcile_balances(
        internal, external, rules(), time_window=timedelta(minutes=1), **kwargs
    )
    assert found["causes"][0].to_list() == ["timing"]


# --- balances_from_ledger ------------------------------------------------------------------------


def test_balance_from_ledger_is_the_last_stated_balance_at_or_before_as_of():
    entries = ledger(
        {"amount": "1", "balance": "1", "occurred_at": T0 - timedelta(hours=2)},
        {"amount": "2", "balance": "3", "occurred_at": T0 - timedelta(hours=1)},
        {"amount": "5", "balance": "8", "occurred_at": T0 + timedelta(seconds=1)},
    )
    found = balances_from_ledger(entries, T0)
    assert found.select("account", "asset", "quantity").rows() == [("main", "BTC", Decimal(3))]
    assert found["as_of"].to_list() == [T0]


def test_balance_from_ledger_ties_keep_file_order():
    entries = ledger(
        {"amount": "1", "balance": "4", "occurred_at": T0},
        {"amount": "1", "balance": "5", "occurred_at": T0},
    )
    assert balances_from_ledger(entries, T0)["quantity"].to_list() == [Decimal(5)]


def test_balance_from_ledger_without_balances_sums_amount_minus_fee():
    entries = ledger(
        {"amount": "2", "fee": "0.01", "occurred_at": T0 - timedelta(hours=1)},
        {"amount": "-0.5", "fee": "0.001", "occurred_at": T0},
        {"amount": "7", "occurred_at": T0 + timedelta(hours=1)},
    )
    assert balances_from_ledger(entries, T0)["quantity"].to_list() == [Decimal("1.489")]


def test_balance_from_ledger_adds_wallets_per_asset():
    entries = ledger(
        {"amount": "1", "balance": "1", "wallet": "spot"},
        {"amount": "2", "balance": "2", "wallet": "margin"},
        {"amount": "4", "asset": "ETH"},
    )
    found = balances_from_ledger(entries, T0)
    assert found.select("asset", "quantity").rows() == [("BTC", Decimal(3)), ("ETH", Decimal(4))]


def test_balances_from_ledger_reconcile_against_a_book():
    entries = ledger({"amount": "1", "balance": "1"}, {"amount": "1", "balance": "2"})
    exchange = balances_from_ledger(entries, T0)
    found = reconcile_balances(balances(("main", "BTC", "2"), as_of=T0), exchange, rules())
    assert found.height == 0


# --- where_divergence_started --------------------------------------------------------------------


def test_where_divergence_started_skips_a_transient_timing_difference():
    t1, t2, t3 = (T0 + timedelta(minutes=m) for m in (1, 2, 3))
    internal = ledger(
        {"amount": "1", "occurred_at": t1, "entry_id": "I1"},
        {"amount": "2", "occurred_at": t2, "entry_id": "I2"},
        {"amount": "0.5", "occurred_at": t3, "entry_id": "I3"},
    )
    external = ledger(
        {"amount": "1", "occurred_at": t1, "entry_id": "X1"},
        {"amount": "2", "occurred_at": t2 + timedelta(seconds=1), "entry_id": "X2"},
        {"amount": "0.4", "occurred_at": t3, "entry_id": "X3"},
    )
    start = where_divergence_started(internal, external, "main", "BTC")
    assert start["occurred_at"] == t3
    assert start["internal_entry_ids"] == ["I3"] and start["external_entry_ids"] == ["X3"]
    assert start["internal_balance"] == Decimal("3.5")
    assert start["external_balance"] == Decimal("3.4")
    assert start["difference"] == Decimal("0.1")


def test_where_divergence_started_with_an_entry_on_one_side_only():
    internal = ledger(
        {"amount": "1", "occurred_at": T0, "entry_id": "I1"},
        {"amount": "1", "occurred_at": T0 + timedelta(minutes=5), "entry_id": "I2"},
    )
    external = ledger({"amount": "1", "occurred_at": T0, "entry_id": "X1"})
    start = where_divergence_started(internal, external, "main", "BTC")
    assert start["occurred_at"] == T0 + timedelta(minutes=5)
    assert (start["internal_entry_ids"], start["external_entry_ids"]) == (["I2"], [])


def test_where_divergence_started_is_none_when_the_ledgers_agree():
    entries = ledger({"amount": "1"}, {"amount": "2", "occurred_at": T0 + timedelta(minutes=1)})
    assert where_divergence_started(entries, entries, "main", "BTC") is None


def test_where_divergence_started_uses_stated_balances():
    internal = ledger({"amount": "1", "balance": "11", "occurred_at": T0, "entry_id": "I1"})
    external = ledger({"amount": "1", "balance": "10", "occurred_at": T0, "entry_id": "X1"})
    start = where_divergence_started(internal, external, "main", "BTC")
    assert (start["internal_balance"], start["external_balance"]) == (Decimal(11), Decimal(10))


@pytest.mark.parametrize("asset", ["ETH", "SOL"])
def test_where_divergence_started_for_an_asset_without_entries_is_none(asset):
    entries = ledger({"amount": "1"})
    assert where_divergence_started(entries, entries.clear(), "main", asset) is None


def test_ledger_frames_may_omit_optional_columns():
    entries = ledger({"amount": "1"}).drop("wallet", "balance", "reference", "subtype")
    assert balances_from_ledger(entries, T0)["quantity"].to_list() == [Decimal(1)]
    assert isinstance(balances_from_ledger(entries, T0), pl.DataFrame)
