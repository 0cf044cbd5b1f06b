"""Engine tests: pure polars, no database. Small builders for hand-made frames."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl

from reconciliation.engine.types import BALANCES, LEDGER, PRICES, Tolerance, ToleranceRules

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def balances(*rows: tuple[str, str, str], as_of: datetime | None = None) -> pl.DataFrame:
    """Balance rows (account, asset, quantity as a decimal string), optionally with as_of."""
    frame = pl.DataFrame([(a, s, Decimal(q)) for a, s, q in rows], schema=BALANCES, orient="row")
    if as_of is not None:
        frame = frame.with_columns(pl.lit(as_of).cast(pl.Datetime("us", "UTC")).alias("as_of"))
    return frame


def ledger(*entries: dict) -> pl.DataFrame:
    """Ledger entries; missing fields default (account "main", asset "BTC", fee 0, time T0)."""
    defaults = {
        "account": "main",
        "asset": "BTC",
        "wallet": "spot",
        "fee": "0",
        "balance": None,
        "type": "trade",
        "subtype": None,
        "reference": None,
        "occurred_at": T0,
    }
    rows = []
    for number, entry in enumerate(entries, start=1):
        row = {**defaults, "entry_id": f"E{number}", **entry}
        for money in ("amount", "fee", "balance"):
            row[money] = None if row[money] is None else Decimal(row[money])
        rows.append(row)
    return pl.DataFrame(rows, schema=LEDGER)


def prices(*rows: tuple[str, str, str, datetime, str]) -> pl.DataFrame:
    """Price rows (asset, quote, price as a decimal string, as_of, source)."""
    return pl.DataFrame(
        [(a, q, Decimal(p), t, s) for a, q, p, t, s in rows], schema=PRICES, orient="row"
    )


def rules(
    absolute: str = "0", relative: str = "0", seconds: int = 5, overrides=()
) -> ToleranceRules:
    """Rules with one default tolerance."""
    default = Tolerance(Decimal(absolute), Decimal(relative), timedelta(seconds=seconds))
    return ToleranceRules(default, tuple(overrides))


def evidence(row: dict) -> dict:
    """The per-cause evidence of a break row's details."""
    return json.loads(row["details"])["causes"]
