"""Hypothesis properties of balance reconciliation and of the exact arithmetic under it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext

import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from reconciliation.engine.balances import differing_sides, join_sides, reconcile_balances
from reconciliation.engine.tolerance import LIMIT, product, with_quotient, with_tolerance
from reconciliation.engine.types import BALANCES, TIME, Override, Tolerance, ToleranceRules

PLACES = Decimal("1e-18")
ACCOUNTS = ["main", "desk", "otc"]
ASSETS = ["BTC", "ETH", "SOL", "USD", "DOGE"]

# Up to 10**8 units with all 18 places used.
quantities = st.integers(-(10**26), 10**26).map(lambda n: Decimal(n).scaleb(-18))
tolerances = st.builds(
    Tolerance,
    st.integers(0, 10**18).map(lambda n: Decimal(n).scaleb(-18)),
    st.integers(0, 10**16).map(lambda n: Decimal(n).scaleb(-18)),  # up to 1 %
)
keys = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(ASSETS)), min_size=1, unique=True
)
datasets = keys.flatmap(
    lambda ks: st.lists(quantities, min_size=len(ks), max_size=len(ks)).map(
        lambda qs: pl.DataFrame(
            [(a, s, q) for (a, s), q in zip(ks, qs, strict=True)], schema=BALANCES, orient="row"
        )
    )
)
overrides = st.lists(
    st.builds(
        Override,
        tolerances,
        st.one_of(st.none(), st.sampled_from(ACCOUNTS)),
        st.one_of(st.none(), st.sampled_from(ASSETS)),
        st.one_of(st.none(), st.sampled_from(["quantity", "value"])),
    ),
    max_size=6,
)
rule_sets = st.builds(lambda d, o: ToleranceRules(d, tuple(o)), tolerances, overrides)


def allowed(tolerance: Tolerance, external: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 100
        return max(tolerance.absolute, tolerance.relative * abs(external))


def with_quantity(frame: pl.DataFrame, index: int, quantity: Decimal) -> pl.DataFrame:
    values = frame["quantity"].to_list()
    values[index] = quantity
    return frame.with_columns(pl.Series("quantity", values, dtype=BALANCES["quantity"]))


@settings(max_examples=60, deadline=None)
@given(datasets, rule_sets)
def test_a_dataset_reconciled_with_itself_has_no_breaks(data, rules):
    assert reconcile_balances(data, data, rules).height == 0


@settings(max_examples=60, deadline=None)
@given(datasets, rule_sets, st.data())
def test_one_difference_beyond_tolerance_is_found_exactly_once(data, rules, draw):
    index = draw.draw(st.integers(0, data.height - 1))
    account, asset, external = data.row(index)
    limit = allowed(rules.for_key(account, asset, "quantity"), external)
    beyond = limit.quantize(PLACES, rounding=ROUND_DOWN) + PLACES
    delta = beyond + draw.draw(st.integers(0, 10**20)) * PLACES
    delta = delta if draw.draw(st.booleans()) else -delta
    assume(abs(external + delta) < Decimal(10) ** 20)
    found = reconcile_balances(with_quantity(data, index, external + delta), data, rules)
    assert found["break_key"].to_list() == [f"position|{account}|{asset}|quantity"]
    assert found["difference"].to_list() == [delta]


@settings(max_examples=60, deadline=None)
@given(datasets, rule_sets, st.data())
def test_one_difference_within_tolerance_is_not_found(data, rules, draw):
    index = draw.draw(st.integers(0, data.height - 1))
    account, asset, external = data.row(index)
    limit = allowed(rules.for_key(account, asset, "quantity"), external)
    steps = int(limit.scaleb(18).to_integral_value(rounding=ROUND_DOWN))
    delta = draw.draw(st.integers(-steps, steps)) * PLACES
    found = reconcile_balances(with_quantity(data, index, external + delta), data, rules)
    assert found.height == 0


@settings(max_examples=40, deadline=None)
@given(datasets, datasets, rule_sets, st.randoms(use_true_random=False))
def test_shuffling_rows_changes_nothing(internal, external, rules, random):
    expected = reconcile_balances(internal, external, rules)
    shuffled = [
        frame.sample(fraction=1, shuffle=True, seed=random.randint(0, 10**6))
        for frame in (internal, external)
    ]
    assert_frame_equal(reconcile_balances(*shuffled, rules), expected)


@settings(max_examples=60, deadline=None)
@given(datasets, st.data())
def test_one_unit_in_the_18th_place_is_found_with_zero_tolerance(data, draw):
    index = draw.draw(st.integers(0, data.height - 1))
    nudged = with_quantity(data, index, data["quantity"][index] + PLACES)
    found = reconcile_balances(nudged, data, ToleranceRules(Tolerance()))
    assert found["difference"].to_list() == [PLACES]


@settings(max_examples=40, deadline=None)
@given(datasets, datasets, rule_sets)
def test_engine_agrees_with_a_per_row_decimal_loop(internal, external, rules):
    book = {(a, s): q for a, s, q in internal.iter_rows()}
    exchange = {(a, s): q for a, s, q in external.iter_rows()}
    expected = {}
    for account, asset in book.keys() | exchange.keys():
        ours, theirs = book.get((account, asset), 0), exchange.get((account, asset), 0)
        tolerance = rules.for_key(account, asset, "quantity")
        if abs(ours - theirs) > allowed(tolerance, theirs):
            expected[f"position|{account}|{asset}|quantity"] = ours - theirs
    found = reconcile_balances(internal, external, rules)
    assert dict(zip(found["break_key"], found["difference"], strict=True)) == expected


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(ASSETS)), min_size=1),
    rule_sets,
    st.sampled_from(["quantity", "value"]),
)
def test_vectorised_tolerance_resolution_matches_for_key(pairs, rules, field_name):
    frame = pl.DataFrame(pairs, schema={"account": pl.String, "asset": pl.String}, orient="row")
    resolved = with_tolerance(frame, rules, field_name)
    for account, asset, absolute, relative, _ in resolved.iter_rows():
        tolerance = rules.for_key(account, asset, field_name)
        assert absolute == int(tolerance.absolute.scaleb(18))
        assert relative == int(tolerance.relative.scaleb(18))


raws = st.one_of(
    st.integers(-LIMIT, LIMIT),
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, 1, -1, 10**18, 5 * 10**17, LIMIT, -LIMIT]),
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [  # exact ties: the result's own last place decides (x.5 -> even)
        (15 * 10**17, 1, 2), (25 * 10**17, 1, 2), (35 * 10**17, 3, 10), (-15 * 10**17, 1, -2),
        (5 * 10**17, 1, 0), (10**18 + 5 * 10**17, 10**18 + 1, 15 * 10**17 + 2),
    ],
)  # fmt: skip
def test_product_rounds_exact_ties_to_the_even_last_place(a, b, expected):
    frame = pl.DataFrame({"a": [a], "b": [b]}, schema={"a": pl.Int128, "b": pl.Int128})
    assert frame.select(product(pl.col("a"), pl.col("b"))).item() == expected


@settings(max_examples=200, deadline=None)
@given(raws, raws)
def test_product_is_exact_and_rounded_half_even_or_down(a, b):
    frame = pl.DataFrame({"a": [a], "b": [b]}, schema={"a": pl.Int128, "b": pl.Int128})
    half_even, down = frame.select(
        product(pl.col("a"), pl.col("b")), product(pl.col("a"), pl.col("b"), "down").alias("d")
    ).row(0)
    with localcontext() as context:
        context.prec = 100
        exact = Decimal(a) * Decimal(b) / Decimal(10**18)
    for got, rounding in ((half_even, ROUND_HALF_EVEN), (down, ROUND_DOWN)):
        expected = int(exact.to_integral_value(rounding=rounding))
        assert got == (expected if abs(expected) <= LIMIT else None)


@settings(max_examples=200, deadline=None)
@given(raws, raws)
def test_quotient_is_exact_and_rounded_half_even(a, b):
    frame = pl.DataFrame({"a": [a], "b": [b]}, schema={"a": pl.Int128, "b": pl.Int128})
    got = with_quotient(frame, "a", "b", "q", shift=2)["q"][0]
    if b == 0:
        assert got is None
        return
    with localcontext() as context:
        context.prec = 100
        expected = int((Decimal(a) * 10**20 / Decimal(b)).to_integral_value(ROUND_HALF_EVEN))
    assert got == (expected if abs(expected) <= LIMIT else None)


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("account", "asset", "int_raw", "ext_raw", nulls_last=True)


sides = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(ASSETS), quantities), max_size=12
).map(lambda rows: pl.DataFrame(rows, schema=BALANCES, orient="row"))


@given(sides, sides, st.booleans())
@settings(max_examples=200, deadline=None)
def test_paired_rows_are_the_joined_rows_that_differ(internal, external, one_per_key):
    """The slot-table pairing gives exactly the general join's differing rows, any input."""
    if one_per_key:  # the fast path's case; repeated keys take the general join
        internal, external = (f.unique(["account", "asset"]) for f in (internal, external))
    general = join_sides(internal, external).filter(pl.col("diff_raw") != 0).collect()
    assert_frame_equal(_sorted(differing_sides(internal, external)), _sorted(general))


def test_pairing_slots_take_zero_missing_and_as_of():
    """One row per key on each side: a missing side, a zero, a null quantity, as_of kept."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    internal = pl.DataFrame(
        [
            ("main", "BTC", Decimal("1"), t0),
            ("main", "ETH", Decimal("0"), t0),
            ("main", "SOL", None, t0),
        ],
        schema={**BALANCES, "as_of": TIME}, orient="row",
    )  # fmt: skip
    external = pl.DataFrame(
        [
            ("main", "BTC", Decimal("1.5")),
            ("main", "DOGE", Decimal("2")),
            ("main", "USD", Decimal("0")),
        ],
        schema=BALANCES, orient="row",
    )  # fmt: skip
    found = differing_sides(internal, external)
    assert found.columns == ["account", "asset", "int_raw", "int_as_of", "ext_raw", "diff_raw"]
    general = join_sides(internal, external).filter(pl.col("diff_raw") != 0).collect()
    assert_frame_equal(_sorted(found), _sorted(general))
    assert sorted(found["asset"]) == ["BTC", "DOGE"]
