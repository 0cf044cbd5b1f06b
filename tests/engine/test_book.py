"""The effective book (engine/book.py): adjustments merged into a book frame, in columns."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.book.services import Change
from reconciliation.engine import book
from reconciliation.engine.types import BALANCES, MARGIN, PNL, TRADES

AT = datetime(2026, 1, 31, tzinfo=UTC)


def _adjustments(changes: list[Change]) -> pl.DataFrame:
    rows = [
        (
            n,
            c.key,
            c.field,
            str(c.operation),
            c.delta,
            c.value,
            json.dumps(c.row) if c.row else None,
        )
        for n, c in enumerate(changes, start=1)
    ]
    return pl.DataFrame(rows, schema=book.ADJUSTMENTS, orient="row")


def _trades(*ids: str) -> pl.DataFrame:
    rows = [
        (i, "", f"X{i}", "main", "BTC/USD", "BTC", "USD", "buy", Decimal(1), Decimal(100),
         Decimal("0.1"), "USD", AT)
        for i in ids
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=TRADES, orient="row")


def _balances(**quantities) -> pl.DataFrame:
    rows = [("main", asset, Decimal(q)) for asset, q in quantities.items()]
    return pl.DataFrame(rows, schema=BALANCES, orient="row")


def _merge(kind, frame, changes):
    return book.effective(kind, frame, _adjustments(changes), account="main", as_of=AT)


def _values(kind, frame):
    return {
        (t, f): n if n is not None else x
        for t, f, n, x in book.book_values(kind, frame, AT).iter_rows()
    }


def test_a_balance_delta_is_summed_with_the_asset():
    merged = _merge(
        "balances",
        _balances(BTC="1.5", ETH="2"),
        [Change("balances", "main", "BTC", "quantity", "add", Decimal("-0.25"))],
    )
    assert _values("balances", merged)[("BTC", "quantity")] == Decimal("1.25")
    assert _values("balances", merged)[("ETH", "quantity")] == Decimal(2)


def test_trade_numbers_values_inserts_and_removals():
    row = {
        "trade_id": "RD-X9",
        "order_id": "",
        "exchange_trade_id": "X9",
        "pair": "BTC/USD",
        "base": "BTC",
        "quote": "USD",
        "side": "sell",
        "quantity": "2",
        "price": "50",
        "fee": "0",
        "fee_asset": "USD",
        "executed_at": "2026-01-02T03:04:05.500000Z",
    }
    changes = [
        Change("trades", "main", "T1", "price", "add", Decimal("0.5")),
        Change("trades", "main", "T1", "side", "set", value="sell", previous="buy"),
        Change("trades", "main", "T1", "executed_at", "set", value="2026-02-01T00:00:00.250000Z"),
        Change("trades", "main", "T2", "trade", "remove"),
        Change("trades", "main", "RD-X9", "trade", "insert", row=row),
    ]
    merged = _merge("trades", _trades("T1", "T2"), changes)
    values = _values("trades", merged)
    assert sorted(merged["trade_id"]) == ["RD-X9", "T1"]
    assert values[("T1", "price")] == Decimal("100.5")
    assert values[("T1", "side")] == "sell"
    assert values[("T1", "executed_at")] == "2026-02-01T00:00:00.250000Z"
    assert values[("RD-X9", "quantity")] == Decimal(2)
    assert values[("RD-X9", "executed_at")] == "2026-01-02T03:04:05.500000Z"
    assert merged.schema == _trades("T1").schema


def test_a_rolled_back_insert_is_gone_and_a_second_insert_stays():
    row = {"trade_id": "RD-1", "pair": "BTC/USD", "base": "BTC", "quote": "USD", "side": "buy",
           "quantity": "1", "price": "1", "fee": "0", "fee_asset": "USD",
           "executed_at": "2026-01-01T00:00:00.000000Z"}  # fmt: skip
    insert = Change("trades", "main", "RD-1", "trade", "insert", row=row)
    assert _merge("trades", _trades("T1"), [insert, insert.reversed()])["trade_id"].to_list() == [
        "T1"
    ]
    kept = _merge("trades", _trades("T1"), [insert, insert.reversed(), insert])
    assert sorted(kept["trade_id"]) == ["RD-1", "T1"]


def test_margin_delta_joins_the_latest_snapshot_and_pnl_its_period():
    margin = pl.DataFrame(
        [("main", "BTC", Decimal(5), Decimal(1), None, datetime(2026, 1, 1, tzinfo=UTC)),
         ("main", "BTC", Decimal(7), Decimal(2), None, datetime(2026, 1, 30, tzinfo=UTC))],
        schema=MARGIN, orient="row",
    )  # fmt: skip
    merged = _merge(
        "margin", margin, [Change("margin", "main", "BTC", "used_margin", "add", Decimal(3))]
    )
    assert _values("margin", merged)[("BTC", "used_margin")] == Decimal(5)
    assert _values("margin", merged)[("BTC", "collateral")] == Decimal(7)
    period = {"currency": "USD", "period_start": "2026-01-01T00:00:00.000000Z",
              "period_end": "2026-02-01T00:00:00.000000Z"}  # fmt: skip
    pnl = _merge(
        "pnl",
        pl.DataFrame(schema=PNL),
        [Change("pnl", "main", "BTC", "realised_pnl", "add", Decimal("12.5"), row=period)],
    )
    target = book.pnl_target("BTC", "USD", period["period_start"], period["period_end"])
    assert _values("pnl", pnl)[(target, "realised_pnl")] == Decimal("12.5")


AMOUNTS = st.decimals(min_value=-(10**6), max_value=10**6, places=18, allow_nan=False)
ASSETS = st.sampled_from(["BTC", "ETH", "XRP", "DOT.S"])


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(ASSETS, AMOUNTS), min_size=1, max_size=12), st.data())
def test_applied_then_rolled_back_the_book_is_exactly_as_before(deltas, data):
    """Adjustments and their reversals net to zero per asset, whatever the order of rollbacks."""
    frame = _balances(BTC="1.000000000000000001", ETH="0", XRP="-3")
    applied = [Change("balances", "main", a, "quantity", "add", d) for a, d in deltas]
    undone = data.draw(st.permutations(applied))
    merged = _merge("balances", frame, applied + [c.reversed() for c in undone])
    assert _values("balances", merged) == {**{(a, "quantity"): Decimal(0) for a, _ in deltas},
                                           **_values("balances", frame)}  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["T1", "T2", "T3"]),
                          st.sampled_from(["quantity", "price", "fee"]), AMOUNTS), max_size=8),
       st.lists(st.sampled_from(["T1", "T2"]), max_size=3, unique=True))  # fmt: skip
def test_trade_adjustments_reversed_restore_every_trade(numbers, removed):
    frame = _trades("T1", "T2", "T3")
    applied = [Change("trades", "main", t, f, "add", d) for t, f, d in numbers]
    applied += [Change("trades", "main", t, "trade", "remove") for t in removed]
    merged = _merge("trades", frame, applied + [c.reversed() for c in reversed(applied)])
    assert merged.sort("trade_id").equals(frame.sort("trade_id"))
