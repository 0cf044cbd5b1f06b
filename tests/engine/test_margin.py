"""Margin reconciliation: collateral, used margin and open positions per (account, asset)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from reconciliation.engine.margin import FIELDS, reconcile_margin
from reconciliation.engine.types import BREAKS, MARGIN, Override, Tolerance, ToleranceRules
from tests.engine import T0, evidence, rules

ZERO_RULES = ToleranceRules(Tolerance())


def margin(*rows: tuple, as_of: datetime = T0, open_position: bool = True) -> pl.DataFrame:
    """Rows (account, asset, collateral, used_margin[, open_position]) as decimal strings.

    An omitted or None open_position is null; open_position=False drops the column.
    """
    records = []
    for account, asset, collateral, used, *held in rows:
        position = Decimal(held[0]) if held and held[0] is not None else None
        records.append((account, asset, Decimal(collateral), Decimal(used), position, as_of))
    frame = pl.DataFrame(records, schema=MARGIN, orient="row")
    return frame if open_position else frame.drop("open_position")


def only(found: pl.DataFrame) -> dict:
    assert found.height == 1, found
    return found.row(0, named=True)


BOOK = margin(("main", "USD", "250000", "48211.55"), ("main", "BTC", "0", "0", "-1.25"))


# --- No breaks ----------------------------------------------------------------------------------


def test_identical_sides_have_no_breaks_and_the_contract_schema():
    found = reconcile_margin(BOOK, BOOK, ZERO_RULES)
    assert found.height == 0
    assert dict(found.schema) == BREAKS


def test_empty_sides_have_no_breaks_and_the_contract_schema():
    found = reconcile_margin(BOOK.clear(), BOOK.clear(), ZERO_RULES)
    assert dict(found.schema) == BREAKS and found.height == 0


# --- One break per field ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "ours", "theirs"),
    [
        ("collateral", ("main", "USD", "1010", "50", "2"), ("main", "USD", "1000", "50", "2")),
        ("used_margin", ("main", "USD", "1000", "60", "2"), ("main", "USD", "1000", "50", "2")),
        ("open_position", ("main", "USD", "1000", "50", "3"), ("main", "USD", "1000", "50", "2")),
    ],
)
def test_each_fields_difference_is_one_break_with_its_figures(field, ours, theirs):
    row = only(reconcile_margin(margin(ours), margin(theirs), ZERO_RULES))
    index = 2 + FIELDS.index(field)
    internal, external = Decimal(ours[index]), Decimal(theirs[index])
    assert row["type"] == "margin"
    assert row["break_key"] == f"margin|main|USD|{field}"
    assert (row["account"], row["asset"], row["entity"], row["field"]) == (
        "main",
        "USD",
        "USD",
        field,
    )
    assert (row["internal_value"], row["external_value"]) == (internal, external)
    assert row["difference"] == internal - external
    assert row["difference_pct"] == (internal - external) / external * 100
    assert row["suggested_value"] == external
    assert row["causes"] == []


def test_every_field_that_differs_is_its_own_break():
    found = reconcile_margin(
        margin(("main", "USD", "2", "2", "2")), margin(("main", "USD", "1", "1", "1")), ZERO_RULES
    )
    assert found["break_key"].to_list() == [
        "margin|main|USD|collateral",
        "margin|main|USD|open_position",
        "margin|main|USD|used_margin",
    ]


def test_breaks_are_sorted_by_break_key():
    internal = margin(("z", "BTC", "1", "0"), ("a", "ETH", "1", "1", "1"), ("a", "BTC", "0", "1"))
    found = reconcile_margin(internal, margin(), ZERO_RULES)
    assert found["break_key"].to_list() == sorted(found["break_key"].to_list())
    assert found.height == 5


def test_details_hold_the_rule_used():
    found = reconcile_margin(
        margin(("main", "USD", "2", "0")), margin(("main", "USD", "1", "0")), rules("0.5", "0.01")
    )
    rule = json.loads(found["details"][0])["rule"]
    assert Decimal(rule["absolute"]) == Decimal("0.5")
    assert Decimal(rule["relative"]) == Decimal("0.01")


# --- Tolerances -----------------------------------------------------------------------------------


def test_within_tolerance_is_not_found_and_the_limit_is_inclusive():
    internal = margin(("main", "USD", "1001", "0"), ("main", "EUR", "1001.000000000000000001", "0"))
    external = margin(("main", "USD", "1000", "0"), ("main", "EUR", "1000", "0"))
    found = reconcile_margin(internal, external, rules(relative="0.001"))
    assert found["break_key"].to_list() == ["margin|main|EUR|collateral"]


def test_an_override_for_one_field_applies_to_that_field_only():
    overrides = (Override(Tolerance(absolute=Decimal("10")), field="used_margin"),)
    found = reconcile_margin(
        margin(("main", "USD", "105", "105", "105")),
        margin(("main", "USD", "100", "100", "100")),
        rules(overrides=overrides),
    )
    assert found["field"].to_list() == ["collateral", "open_position"]


def test_open_position_has_its_own_tolerance_field():
    overrides = (Override(Tolerance(absolute=Decimal("1")), field="open_position"),)
    found = reconcile_margin(
        margin(("main", "BTC", "0", "0", "1.5")),
        margin(("main", "BTC", "0", "0", "1")),
        rules(overrides=overrides),
    )
    assert found.height == 0


def test_an_override_for_one_asset_applies_to_that_asset_only():
    overrides = (Override(Tolerance(absolute=Decimal("10")), asset="USD"),)
    found = reconcile_margin(
        margin(("main", "USD", "105", "0"), ("main", "EUR", "105", "0")),
        margin(("main", "USD", "100", "0"), ("main", "EUR", "100", "0")),
        rules(overrides=overrides),
    )
    assert found["break_key"].to_list() == ["margin|main|EUR|collateral"]


def test_the_most_specific_override_wins():
    overrides = (
        Override(Tolerance(absolute=Decimal("10")), asset="USD"),
        Override(Tolerance(absolute=Decimal("0")), asset="USD", field="used_margin"),
    )
    found = reconcile_margin(
        margin(("main", "USD", "105", "105")),
        margin(("main", "USD", "100", "100")),
        rules(overrides=overrides),
    )
    assert found["break_key"].to_list() == ["margin|main|USD|used_margin"]
    assert Decimal(json.loads(found["details"][0])["rule"]["absolute"]) == 0


# --- Missing rows and causes ----------------------------------------------------------------------


def test_a_row_missing_internally_counts_as_zero_with_a_null_value():
    found = reconcile_margin(margin(), margin(("main", "USD", "40", "0", "-2")), ZERO_RULES)
    assert found["field"].to_list() == ["collateral", "open_position"]
    collateral, position = found.rows(named=True)
    assert (collateral["internal_value"], collateral["external_value"]) == (None, Decimal(40))
    assert collateral["difference"] == Decimal(-40)
    assert collateral["difference_pct"] == Decimal(-100)
    assert collateral["suggested_value"] == Decimal(40)
    assert (position["difference"], position["suggested_value"]) == (Decimal(2), Decimal(-2))
    for row in (collateral, position):
        assert row["causes"] == ["missing_position"]
        assert evidence(row) == {"missing_position": {"missing_side": "internal"}}


def test_a_row_missing_externally_counts_as_zero_with_a_null_value():
    row = only(reconcile_margin(margin(("main", "BTC", "0", "3")), margin(), ZERO_RULES))
    assert (row["field"], row["internal_value"], row["external_value"]) == (
        "used_margin",
        Decimal(3),
        None,
    )
    assert row["difference"] == Decimal(3) and row["difference_pct"] is None
    assert row["suggested_value"] == Decimal(0)
    assert row["causes"] == ["missing_position"]
    assert evidence(row) == {"missing_position": {"missing_side": "external"}}


def test_a_short_booked_as_long_is_a_sign_flip():
    row = only(
        reconcile_margin(
            margin(("main", "BTC", "0", "0", "1.25")),
            margin(("main", "BTC", "0", "0", "-1.25")),
            ZERO_RULES,
        )
    )
    assert row["field"] == "open_position"
    assert row["difference"] == Decimal("2.5")
    assert row["suggested_value"] == Decimal("-1.25")
    assert row["causes"] == ["sign_flip"]


def test_collateral_off_by_a_power_of_ten_is_a_decimal_shift():
    row = only(
        reconcile_margin(
            margin(("main", "USD", "250000", "0")), margin(("main", "USD", "25000", "0")), rules()
        )
    )
    assert row["field"] == "collateral"
    assert row["causes"] == ["decimal_shift"]
    assert evidence(row) == {"decimal_shift": {"power": 1}}


def test_snapshots_further_apart_than_the_window_add_timing_with_evidence():
    later = T0 + timedelta(minutes=10)
    row = only(
        reconcile_margin(
            margin(("main", "USD", "250000", "0")),
            margin(("main", "USD", "25000", "0"), as_of=later),
            rules(seconds=60),
        )
    )
    assert row["causes"] == ["decimal_shift", "timing"]
    timing = evidence(row)["timing"]
    assert Decimal(timing["apart_seconds"]) == 600
    assert Decimal(timing["time_window_seconds"]) == 60
    assert datetime.fromisoformat(timing["internal_as_of"]) == T0
    assert datetime.fromisoformat(timing["external_as_of"]) == later


def test_snapshots_within_the_fields_window_are_not_timing():
    overrides = (Override(Tolerance(time_window=timedelta(hours=1)), field="collateral"),)
    found = reconcile_margin(
        margin(("main", "USD", "2", "2")),
        margin(("main", "USD", "1", "1"), as_of=T0 + timedelta(minutes=10)),
        rules(overrides=overrides),
    )
    assert dict(zip(found["field"], found["causes"].to_list(), strict=True)) == {
        "collateral": [],
        "used_margin": ["timing"],
    }


def test_a_missing_as_of_column_means_no_timing_check():
    row = only(
        reconcile_margin(
            margin(("main", "USD", "2", "0")).drop("as_of"),
            margin(("main", "USD", "1", "0"), as_of=T0 + timedelta(days=1)),
            ZERO_RULES,
        )
    )
    assert row["causes"] == []


# --- Exactness, summing, optional open_position ---------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
def test_one_unit_in_the_18th_place_is_a_break_with_zero_tolerance(field):
    big, nudged = "12345678901234567890", "12345678901234567890.000000000000000001"
    values = {f: "0" for f in FIELDS}
    ours = margin(("main", "BTC", *{**values, field: nudged}.values()))
    theirs = margin(("main", "BTC", *{**values, field: big}.values()))
    row = only(reconcile_margin(ours, theirs, ZERO_RULES))
    assert row["field"] == field
    assert row["difference"] == Decimal("0.000000000000000001")
    assert row["internal_value"] == Decimal(nudged)


def test_rows_of_one_key_are_summed():
    internal = margin(
        ("main", "BTC", "1", "0.25", "2"),
        ("main", "BTC", "0.5", "0.25", "-0.5"),
        ("main", "BTC", "0", "0"),  # a wallet with no open position
    )
    external = margin(("main", "BTC", "1.5", "0.5", "1.5"))
    assert reconcile_margin(internal, external, ZERO_RULES).height == 0


def test_only_the_latest_snapshot_of_each_side_counts():
    earlier = margin(("main", "USD", "250000", "48000"), as_of=T0 - timedelta(days=1))
    latest = margin(("main", "USD", "250000", "48000"))
    assert reconcile_margin(pl.concat([earlier, latest]), latest, ZERO_RULES).height == 0


def test_snapshots_after_the_runs_as_of_are_left_out():
    later = margin(("main", "USD", "1", "1"), as_of=T0 + timedelta(hours=1))
    book = pl.concat([BOOK, later])
    assert reconcile_margin(book, BOOK, ZERO_RULES, as_of=T0).height == 0
    assert reconcile_margin(book, BOOK, ZERO_RULES).height > 0


def test_a_missing_open_position_column_counts_as_zero():
    internal = margin(("main", "BTC", "1", "0"), open_position=False)
    flat, short = margin(("main", "BTC", "1", "0", "0")), margin(("main", "BTC", "1", "0", "-1"))
    assert reconcile_margin(internal, flat, ZERO_RULES).height == 0
    row = only(reconcile_margin(internal, short, ZERO_RULES))
    # The key is on both sides, so the internal figure is 0, not missing.
    assert (row["field"], row["internal_value"], row["causes"]) == ("open_position", 0, [])


def test_a_null_open_position_counts_as_zero():
    found = reconcile_margin(
        margin(("main", "BTC", "1", "0", None)), margin(("main", "BTC", "1", "0", "0")), ZERO_RULES
    )
    assert found.height == 0


# --- Properties -----------------------------------------------------------------------------------

ACCOUNTS = ["main", "desk"]
ASSETS = ["BTC", "ETH", "USD"]
TIMES = [T0, T0 + timedelta(seconds=3), T0 + timedelta(minutes=5)]
amounts = st.integers(-(10**26), 10**26).map(lambda n: Decimal(n).scaleb(-18))
tolerances = st.builds(
    Tolerance,
    st.integers(0, 10**18).map(lambda n: Decimal(n).scaleb(-18)),
    st.integers(0, 10**16).map(lambda n: Decimal(n).scaleb(-18)),
    st.sampled_from([timedelta(seconds=5), timedelta(minutes=10)]),
)
rule_sets = st.builds(
    lambda default, overrides: ToleranceRules(default, tuple(overrides)),
    tolerances,
    st.lists(
        st.builds(
            Override,
            tolerances,
            st.one_of(st.none(), st.sampled_from(ACCOUNTS)),
            st.one_of(st.none(), st.sampled_from(ASSETS)),
            st.one_of(st.none(), st.sampled_from(FIELDS)),
        ),
        max_size=5,
    ),
)
# Keys may repeat: rows of a key's latest snapshot are summed, whatever their order.
datasets = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        st.sampled_from(ASSETS),
        amounts,
        amounts,
        st.one_of(st.none(), amounts),
        st.sampled_from(TIMES),
    ),
    max_size=8,
).map(lambda rows: pl.DataFrame(rows, schema=MARGIN, orient="row"))


@settings(max_examples=40, deadline=None)
@given(datasets, datasets, rule_sets, st.randoms(use_true_random=False))
def test_shuffling_rows_changes_nothing(internal, external, rules, random):
    expected = reconcile_margin(internal, external, rules)
    shuffled = [
        frame.sample(fraction=1, shuffle=True, seed=random.randint(0, 10**6))
        for frame in (internal, external)
    ]
    assert_frame_equal(reconcile_margin(*shuffled, rules), expected)


def _sums(frame: pl.DataFrame) -> dict:
    """Per (account, asset) the latest snapshot's fields summed, no open_position counted as 0."""
    latest: dict = {}
    for account, asset, *_, moment in frame.iter_rows():
        latest[(account, asset)] = max(latest.get((account, asset), moment), moment)
    totals: dict = {}
    for account, asset, *values, moment in frame.iter_rows():
        if moment != latest[(account, asset)]:
            continue
        previous = totals.get((account, asset), [Decimal(0)] * len(FIELDS))
        totals[(account, asset)] = [p + (v or 0) for p, v in zip(previous, values, strict=True)]
    return totals


@settings(max_examples=40, deadline=None)
@given(datasets, datasets, rule_sets)
def test_engine_agrees_with_a_per_row_decimal_loop(internal, external, rules):
    expected = {}
    with localcontext() as context:
        context.prec = 100  # exact: no product or sum here needs more digits
        book, exchange = _sums(internal), _sums(external)
        zeros = [Decimal(0)] * len(FIELDS)
        for account, asset in book.keys() | exchange.keys():
            ours = book.get((account, asset), zeros)
            theirs = exchange.get((account, asset), zeros)
            for field, mine, other in zip(FIELDS, ours, theirs, strict=True):
                tolerance = rules.for_key(account, asset, field)
                if abs(mine - other) > max(tolerance.absolute, tolerance.relative * abs(other)):
                    expected[f"margin|{account}|{asset}|{field}"] = mine - other
    found = reconcile_margin(internal, external, rules)
    assert dict(zip(found["break_key"], found["difference"], strict=True)) == expected
