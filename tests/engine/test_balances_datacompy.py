"""Differential test: the engine and datacompy agree where their semantics agree.

datacompy compares through float64 (np.isclose: |a - b| <= atol + rtol * |b|) and only over rows
present on both sides, so the data here has 8 places, an absolute tolerance only, both sides
present, and no difference close enough to the tolerance for float rounding to matter.
"""

from __future__ import annotations

import random
from decimal import Decimal

import datacompy
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.engine.balances import reconcile_balances
from reconciliation.engine.types import BALANCES, Tolerance, ToleranceRules

TOLERANCE = Decimal("0.0001")
SATOSHI = Decimal("1e-8")
# datacompy 1.1 still passes polars' deprecated `join_nulls`; that is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:the argument `join_nulls`:DeprecationWarning")

# Differences, in satoshis: none, clearly within (<= half the tolerance), clearly beyond (>= 2x).
SHIFTS = st.one_of(
    st.just(0),
    st.integers(-5_000, 5_000),
    st.integers(20_000, 10**12),
    st.integers(-(10**12), -20_000),
)


def generated(count: int, shifts: list[int], seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = random.Random(seed)
    keys = [(f"acct{i % 7}", f"A{i}") for i in range(count)]
    book = [Decimal(rng.randint(0, 10**12)) * SATOSHI for _ in keys]
    exchange = [q + Decimal(s) * SATOSHI for q, s in zip(book, shifts, strict=True)]
    internal = pl.DataFrame(
        [(*k, q) for k, q in zip(keys, book, strict=True)], schema=BALANCES, orient="row"
    )
    external = pl.DataFrame(
        [(*k, q) for k, q in zip(keys, exchange, strict=True)], schema=BALANCES, orient="row"
    )
    return internal, external.sample(fraction=1, shuffle=True, seed=seed)


def datacompy_keys(internal: pl.DataFrame, external: pl.DataFrame) -> set[tuple[str, str]]:
    compare = datacompy.PolarsCompare(
        internal, external, join_columns=["account", "asset"], abs_tol=float(TOLERANCE)
    )
    return set(compare.all_mismatch().select("account", "asset").iter_rows())


def engine_keys(internal: pl.DataFrame, external: pl.DataFrame) -> set[tuple[str, str]]:
    found = reconcile_balances(internal, external, ToleranceRules(Tolerance(absolute=TOLERANCE)))
    return set(found.select("account", "asset").iter_rows())


@settings(max_examples=25, deadline=None)
@given(st.lists(SHIFTS, min_size=1, max_size=60), st.integers(0, 10**6))
def test_same_differing_keys_as_datacompy(shifts, seed):
    internal, external = generated(len(shifts), shifts, seed)
    assert engine_keys(internal, external) == datacompy_keys(internal, external)


@pytest.mark.parametrize("seed", [1, 2])
def test_same_differing_keys_as_datacompy_on_many_rows(seed):
    rng = random.Random(seed)
    shifts = [
        rng.choice([0, 0, 0, rng.randint(-5_000, 5_000), rng.randint(20_000, 10**9)])
        for _ in range(20_000)
    ]
    internal, external = generated(len(shifts), shifts, seed)
    expected = datacompy_keys(internal, external)
    assert expected  # the data does contain differences
    assert engine_keys(internal, external) == expected
