"""Trade rows for the engine's tests: one fill at a time, and a frame of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl

from reconciliation.engine.types import (
    TRADES,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def fill(trade_id: str, at: float = 0, **fields) -> dict:
    """One trade row; `at` is seconds after T0, money given as strings."""
    row = {
        "trade_id": trade_id, "order_id": None, "exchange_trade_id": None, "account": "main",
        "pair": "BTC/USD", "base": "BTC", "quote": "USD", "side": "buy", "quantity": "1",
        "price": "100", "fee": "0.1", "fee_asset": "USD",
        "executed_at": T0 + timedelta(microseconds=round(at * 1_000_000)),
    }  # fmt: skip
    row.update(fields)
    for money in ("quantity", "price", "fee"):
        row[money] = Decimal(row[money])
    return row


def trades(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=TRADES)
