"""Rows of every generic format and spreadsheets of them, for the fuzz and refusal tests."""

from __future__ import annotations

import io
import random

WHEN = "2026-01-02T03:04:05Z"


GENERIC_ROWS = {
    "balances": [
        {"account": "main", "asset": "BTC", "quantity": "1.5", "as_of": WHEN, "wallet": ""},
        {"account": "main", "asset": "DOT.S", "quantity": "-.25", "as_of": WHEN, "wallet": "s"},
    ],
    "trades": [
        {"trade_id": "T1", "account": "main", "pair": "BTC/USD", "side": "buy", "quantity": "0.5",
         "price": "60000.1", "fee": "1.25", "fee_asset": "USD", "executed_at": WHEN,
         "order_id": "O1", "desk": "spot, crypto"},
        {"trade_id": "T2", "account": "main", "pair": "ETH/USD", "side": "sell", "quantity": "2",
         "price": "3000", "fee": "0", "fee_asset": "USD", "executed_at": WHEN, "order_id": ""},
    ],
    "ledger": [
        {"entry_id": "E1", "account": "main", "asset": "USD", "amount": "-5000", "fee": "0",
         "type": "transfer", "occurred_at": WHEN, "reference": "R1"},
        {"entry_id": "E2", "account": "main", "asset": "BTC", "amount": "0.0195",
         "fee": "0.00005", "type": "trade", "occurred_at": WHEN, "reference": "R2"},
    ],
    "margin": [
        {"account": "main", "asset": "USD", "collateral": "250000", "used_margin": "48211.55",
         "as_of": WHEN, "open_position": ""},
        {"account": "main", "asset": "BTC", "collateral": "0", "used_margin": "0",
         "as_of": WHEN, "open_position": "-1.25"},
    ],
    "pnl": [
        {"account": "main", "asset": "BTC", "realised_pnl": "18433.27", "currency": "USD",
         "period_start": "2026-01-01T00:00:00Z", "period_end": "2026-02-01T00:00:00Z"},
    ],
    "prices": [
        {"asset": "BTC", "quote": "USD", "price": "87311.2", "as_of": WHEN, "source": "kraken"},
        {"asset": "EUR", "quote": "USD", "price": "1.084", "as_of": WHEN, "source": "ecb"},
    ],
}  # fmt: skip


def xlsx_of(rows: list[dict], rng: random.Random | None = None) -> bytes:
    from openpyxl import Workbook

    names = list(dict.fromkeys(name for row in rows for name in row))
    book = Workbook()
    sheet = book.active
    sheet.append(names)
    for row in rows:
        sheet.append([_cell(row.get(name, ""), rng) for name in names])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(value: str, rng: random.Random | None):
    """Now and then a typed cell in place of the text: a number, a date, a formula, a bool."""
    if rng is None or rng.random() > 0.2:
        return value
    import datetime as dt

    return rng.choice(
        [1.5, 0.1 + 0.2, 1e20, -3, True, dt.datetime(2026, 1, 2), "=A1*2", 12345678901234567]
    )
