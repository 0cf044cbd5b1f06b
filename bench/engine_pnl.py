"""`python bench/engine_pnl.py [--rows N]`: realised PnL reconciliation, FIFO and average cost.

Generates N exchange trades (default 1,000,000) over 50 assets in two accounts, buys and sells
interleaved from mid-February to early April (earlier trades build the inventory, later ones are
ignored); a tenth of the quantities use all 18 places, most fees are in USD and some in the
base asset. The book has one March row per (account, asset): the exact figure with a few injected
differences (+1 USD, a sign flip, a decimal shift, the sell fees left out, the other method's
figure, a missing row, and two within the 0.01 USD tolerance).

Times `reconcile_pnl` per method (median of 3) and `realised_pnl`, checks that exactly the
injected breaks are found with the injected causes, and checks the engine against a plain
`Decimal` loop on two lots. Prints one JSON line (no Django needed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_balances import timed
from reconciliation.engine.pnl import PNL_METHOD, realised_pnl, reconcile_pnl
from reconciliation.engine.tolerance import to_decimal
from reconciliation.engine.types import PNL, TIME, Tolerance, ToleranceRules

ACCOUNTS = ["kraken-hedge", "kraken-main"]  # sorted, as realised_pnl sorts its rows
ASSETS = [f"A{i:02d}" for i in range(50)]
START, END = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)
FIRST, LAST = datetime(2025, 2, 15, tzinfo=UTC), datetime(2025, 4, 5, tzinfo=UTC)
RULES = ToleranceRules(Tolerance(absolute=Decimal("0.01")))
PLACES = Decimal("1e-18")


# --- Data -----------------------------------------------------------------------------------------


def generate(rows: int, seed: int = 5) -> pl.DataFrame:
    """Exchange trades: each lot buys a little more than it sells, so few sells are uncovered."""
    rng = np.random.default_rng(seed)
    lot = rng.integers(0, len(ACCOUNTS) * len(ASSETS), rows)
    span_us = int((LAST - FIRST).total_seconds() * 1_000_000)
    sell = rng.random(rows) < 0.48
    units = rng.integers(1, 10**8, rows)  # quantity in 1e-8: 0.00000001 .. 1
    extra = np.where(rng.random(rows) < 0.1, rng.integers(0, 10**10, rows), 0)  # places 9..18
    level = 10 ** rng.integers(0, 5, len(ACCOUNTS) * len(ASSETS))[lot]  # 1 .. 10 000 USD
    cents = rng.integers(50_00, 150_00, rows)  # +-50 % around the level, in cents
    fee_in_base = rng.random(rows) < 0.1
    frame = pl.DataFrame({
        "n": np.arange(rows), "lot": lot, "t": rng.integers(0, span_us, rows), "sell": sell,
        "units": units, "extra": extra, "level": level, "cents": cents, "in_base": fee_in_base,
    })  # fmt: skip
    quantity = pl.col("units").cast(pl.Int128) * pl.lit(10**10, pl.Int128) + pl.col("extra")
    price = pl.col("cents").cast(pl.Int128) * pl.col("level") * pl.lit(10**16, pl.Int128)
    asset = pl.lit(pl.Series(ASSETS)).gather(pl.col("lot") % len(ASSETS))
    notional_cents = pl.col("units").cast(pl.Int128) * pl.col("cents") * pl.col("level") // 10**8
    fee_cents = notional_cents // 1000
    return frame.select(
        pl.format("X{}", "n").alias("trade_id"),
        pl.lit(None, pl.String).alias("order_id"),
        pl.lit(None, pl.String).alias("exchange_trade_id"),
        pl.lit(pl.Series(ACCOUNTS)).gather(pl.col("lot") // len(ASSETS)).alias("account"),
        pl.format("{}/USD", asset).alias("pair"),
        asset.alias("base"),
        pl.lit("USD").alias("quote"),
        pl.when("sell").then(pl.lit("sell")).otherwise(pl.lit("buy")).alias("side"),
        to_decimal(quantity).alias("quantity"),
        to_decimal(price).alias("price"),
        # A fee of 0.1 % of the notional (of the 1e-8 part) in cents, or 0.1 % of the quantity.
        to_decimal(pl.when("in_base").then(quantity // 1000).otherwise(fee_cents * 10**16)).alias(
            "fee"
        ),
        pl.when("in_base").then(asset).otherwise(pl.lit("USD")).alias("fee_asset"),
        (pl.lit(FIRST) + pl.duration(microseconds="t")).cast(TIME).alias("executed_at"),
    )


def books(trades: pl.DataFrame, method: str) -> tuple[pl.DataFrame, dict, pl.DataFrame]:
    """The exact March book for `method` with injected differences, and the expected causes."""
    keys = pl.DataFrame(
        [(a, s, "USD", START, END) for a in ACCOUNTS for s in ASSETS],
        schema={**{c: PNL[c] for c in ("account", "asset", "currency")},
                "period_start": TIME, "period_end": TIME}, orient="row",
    )  # fmt: skip
    exact = realised_pnl(trades, keys, method)
    other = realised_pnl(trades, keys, "average" if method == "fifo" else "fifo")
    values = exact["realised_pnl"].to_list()
    sell_fees = exact["sell_fees_in_quote"].to_list()
    expected: dict[str, str | None] = {}
    edits = {  # row: (new value, the first cause expected ("*": any), or None for no break)
        0: (values[0] + 1, "*"), 1: (-values[1], "sign_flip"), 2: (values[2] * 10, "decimal_shift"),
        3: (values[3] + sell_fees[3], "unbooked_fee"), 4: (other["realised_pnl"][4], PNL_METHOD),
        5: (values[5] + Decimal("0.005"), None), 6: (values[6] - Decimal("0.01"), None),
    }  # fmt: skip
    for row, (value, cause) in edits.items():
        values[row] = value
        if cause is not None:
            expected[_key(exact.row(row, named=True))] = cause
    book = exact.select("account", "asset", "currency", "period_start", "period_end")
    book = book.with_columns(realised_pnl=pl.Series(values, dtype=PNL["realised_pnl"]))
    missing = book.row(7, named=True)
    expected[_key(missing)] = "missing_position"
    book = book.with_row_index("_row").filter(pl.col("_row") != 7).drop("_row")
    return book.select(list(PNL)), expected, exact


def _key(row: dict) -> str:
    times = "|".join(row[c].strftime("%Y-%m-%dT%H:%M:%SZ") for c in ("period_start", "period_end"))
    return f"pnl|{row['account']}|{row['asset']}|USD|{times}|realised_pnl"


# --- An independent check: a plain Decimal loop over one lot --------------------------------------


def decimal_loop(trades: pl.DataFrame, account: str, asset: str, method: str) -> Decimal:
    """March's realised PnL of one lot, one trade at a time in Python Decimal."""
    rows = trades.filter(
        (pl.col("account") == account) & (pl.col("base") == asset) & (pl.col("executed_at") < END)
    ).sort("executed_at", "trade_id")
    lots, held, cost, total = deque(), Decimal(0), Decimal(0), Decimal(0)
    with localcontext() as context:
        context.prec = 60
        for side, quantity, price, fee, fee_asset, at in rows.select(
            "side", "quantity", "price", "fee", "fee_asset", "executed_at"
        ).iter_rows():
            fee = fee if fee_asset == "USD" else Decimal(0)
            notional = (quantity * price).quantize(PLACES, ROUND_HALF_EVEN)
            if side == "buy":
                lots.append([quantity, notional + fee])
                held, cost = held + quantity, cost + notional + fee
                continue
            covered = min(quantity, held)
            basis = _fifo_basis(lots, quantity) if method == "fifo" else None
            if basis is None:
                basis = (
                    cost
                    if covered == held
                    else (cost * covered / held).quantize(PLACES, ROUND_HALF_EVEN)
                )
            held, cost = held - covered, cost - basis
            proceeds = notional - fee
            if covered != quantity:
                proceeds = (proceeds * covered / quantity).quantize(PLACES, ROUND_HALF_EVEN)
            if at >= START:
                total += proceeds - basis
    return total


def _fifo_basis(lots: deque, quantity: Decimal) -> Decimal:
    basis, need = Decimal(0), quantity
    while need and lots:
        if lots[0][0] <= need:
            need -= lots[0][0]
            basis += lots.popleft()[1]
        else:
            part = (lots[0][1] * need / lots[0][0]).quantize(PLACES, ROUND_HALF_EVEN)
            lots[0] = [lots[0][0] - need, lots[0][1] - part]
            basis, need = basis + part, Decimal(0)
    return basis


# --- Run ------------------------------------------------------------------------------------------


def measure(trades: pl.DataFrame, method: str) -> dict:
    """One method's timings and checks."""
    book, expected, computed = books(trades, method)
    seconds, found = timed(lambda: reconcile_pnl(book, trades, RULES, method=method), 3)
    realised_s, _ = timed(lambda: realised_pnl(trades, book, method), 1)
    got = dict(zip(found["break_key"], found["causes"].to_list(), strict=True))
    as_injected = got.keys() == expected.keys() and all(
        cause == "*" or got[key][:1] == [cause] for key, cause in expected.items()
    )
    loop = [decimal_loop(trades, ACCOUNTS[0], ASSETS[i], method) for i in range(2)]
    engine = computed.head(2)["realised_pnl"].to_list()  # sorted: kraken-hedge A00, A01
    return {
        "engine_s": round(seconds, 3),
        "realised_pnl_s": round(realised_s, 3),
        "breaks_found": found.height,
        "breaks_injected": len(expected),
        "causes_as_injected": as_injected,
        "decimal_loop_agrees": loop == engine,
        "lots_with_uncovered_sells": computed.filter(pl.col("uncovered_quantity") > 0).height,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    trades = generate(args.rows)
    figures: dict = {"benchmark": "engine_pnl", "rows": args.rows}
    figures |= {method: measure(trades, method) for method in ("fifo", "average")}
    exact = all(
        figures[m]["causes_as_injected"] and figures[m]["decimal_loop_agrees"]
        for m in ("fifo", "average")
    )
    print(json.dumps(figures))
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
