"""Demo data for `make demo`: Kraken's exports and an internal book that differs on purpose.

The Kraken files are realistic exports kept in reconciliation/demo/ (the exchange tests read the
same two files, linked from tests/data/exchange/). The book is generated from
them, deterministically, with one difference of each kind a reconciliation must find:

    balances  BTC    book higher by an unbooked trading fee (0.0025)
              ETH    decimal shift: the book holds ten times the quantity
              USD    a withdrawal (102,974.97 and its 4.00 fee) missing from the book
              SOL.S  sign flip: the book holds the staked SOL as negative
              DOGE   timing: the book is 2 minutes later and includes a 1,500 DOGE fill
              ADA.F  missing from the book
    trades    one Kraken fill missing from the book, one price 0.5% off, one fill split in
              two in the book, one fee booked twice its size, one book fill Kraken never saw
    pnl       SOL    the book's PnL leaves out the fees of its sells (unbooked fee)
              BTC    the book uses average cost where the rule set says FIFO
              DOGE   no PnL booked for DOGE at all
    margin    BTC    the open short booked as long (sign flip)
              USD    used margin booked a hundredth of its size (decimal shift)
              EUR    collateral the book does not have
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from reconciliation.datasets import frames, ingest, services
from reconciliation.importers.assets import KRAKEN_WALLET_SUFFIX
from reconciliation.models import Account, Dataset

SAMPLES = Path(__file__).resolve().parent  # the exports sit beside this module
QUOTE_PRICES_USD = {"USD": Decimal(1), "EUR": Decimal("1.0840"), "USDC": Decimal("0.9998")}


@dataclass(frozen=True)
class DemoAccounts:
    book: Account
    kraken: Account
    prices: Account


def _accounts() -> DemoAccounts:
    def account(source, code, kind, exchange=""):
        return services.ensure_account(
            source_code=source, account_code=code, kind=kind, exchange=exchange, by=None
        )[0]

    return DemoAccounts(
        book=account("book", "main", "internal"),
        kraken=account("kraken", "main", "exchange", "kraken"),
        prices=account("prices", "default", "price_feed"),
    )


def _ledger_rows() -> list[dict]:
    with open(SAMPLES / "kraken_ledgers.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _trade_rows() -> list[dict]:
    with open(SAMPLES / "kraken_trades.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _closing_balances(ledger: list[dict]) -> dict[str, Decimal]:
    closing: dict[str, Decimal] = {}
    for row in ledger:
        if row["txid"] and row["balance"]:
            asset = row["asset"] + KRAKEN_WALLET_SUFFIX.get(row["wallet"], "")
            closing[asset] = Decimal(row["balance"])
    return closing


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def book_balances(ledger: list[dict], as_of: str) -> bytes:
    closing = _closing_balances(ledger)
    closing["BTC"] += Decimal("0.0025")
    closing["ETH"] *= 10
    closing["USD"] += Decimal("102978.9700")  # Kraken's withdrawal LTCEI1-P2EI8-1OYH8H, net
    closing["SOL.S"] = -closing["SOL.S"]
    closing["DOGE"] += Decimal("1500.00000000")
    del closing["ADA.F"]
    later = _shift(as_of, minutes=2)  # the DOGE position is taken after one more fill
    rows = [
        {
            "account": "main",
            "asset": asset,
            "quantity": str(quantity),
            "as_of": later if asset == "DOGE" else as_of,
        }
        for asset, quantity in sorted(closing.items())
    ]
    return _csv(rows)


def _shift(iso: str, *, minutes: int) -> str:
    from datetime import datetime

    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.isoformat().replace("+00:00", "Z")


def _iso(kraken_time: str) -> str:
    return kraken_time.replace(" ", "T") + "Z"


def book_trades(trades: list[dict]) -> bytes:
    rows = []
    for number, trade in enumerate(trades, start=1):
        quote = trade["pair"].split("/")[1]
        rows.append(
            {
                "trade_id": f"BK-{number:05d}",
                "account": "main",
                "pair": trade["pair"],
                "side": trade["type"],
                "quantity": trade["vol"],
                "price": trade["price"],
                "fee": trade["fee"],
                "fee_asset": quote,
                "executed_at": _iso(trade["time"]),
                "order_id": trade["ordertxid"],
                "exchange_trade_id": trade["txid"],
            }
        )
    del rows[3]  # a Kraken fill the book never booked
    price = Decimal(rows[6]["price"]) * Decimal("1.005")
    rows[6]["price"] = str(price.quantize(Decimal("0.00001")))
    rows[9]["fee"] = str(Decimal(rows[9]["fee"]) * 2)
    split = rows.pop(12)
    half = (Decimal(split["quantity"]) / 2).quantize(Decimal("0.00000001"))
    half_fee = str((Decimal(split["fee"]) / 2).quantize(Decimal("0.00001")))
    for suffix, quantity in (("a", half), ("b", Decimal(split["quantity"]) - half)):
        part = {"trade_id": split["trade_id"] + suffix, "quantity": str(quantity), "fee": half_fee}
        rows.append({**split, **part})
    rows.append({**rows[0], "trade_id": "BK-99999", "exchange_trade_id": "", "order_id": "",
                 "executed_at": _shift(rows[0]["executed_at"], minutes=7)})  # fmt: skip
    return _csv(rows)


def prices(trades: list[dict], as_of: str) -> bytes:
    last: dict[str, Decimal] = {}
    for trade in trades:
        base, quote = trade["pair"].split("/")
        if quote in QUOTE_PRICES_USD:
            last[base] = Decimal(trade["price"]) * QUOTE_PRICES_USD[quote]
    last.update(QUOTE_PRICES_USD)
    rows = [
        {"asset": asset, "quote": "USD", "price": str(price.quantize(Decimal("0.00000001"))),
         "as_of": as_of, "source": "demo-feed"}
        for asset, price in sorted(last.items()) if asset != "USD"
    ]  # fmt: skip
    return _csv(rows)


def margin(as_of: str, *, book: bool) -> bytes:
    """A margin snapshot; the book's differs from the exchange's as listed above."""
    rows = [
        ("USD", "250000.0000", "482.1155" if book else "48211.5500", ""),
        ("BTC", "0", "0", "-1.2500" if not book else "1.2500"),
        ("ETH", "0", "0", "10.0000"),
    ]
    if not book:
        rows.append(("EUR", "5000.0000", "0", ""))
    return _csv([
        {"account": "main", "asset": asset, "collateral": collateral, "used_margin": used,
         "as_of": as_of, "open_position": position}
        for asset, collateral, used, position in rows
    ])  # fmt: skip


PNL_PERIOD = ("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z")


def book_pnl(exchange_trades) -> bytes:
    """The book's realised PnL for the demo period, from the exchange's trades, as listed above."""
    import polars as pl

    from reconciliation.engine import pnl

    start, end = (datetime.fromisoformat(t) for t in PNL_PERIOD)
    pairs = exchange_trades.select("base", "quote").unique().sort("base", "quote")
    periods = pairs.select(
        pl.lit("main").alias("account"), pl.col("base").alias("asset"),
        pl.col("quote").alias("currency"), pl.lit(start).alias("period_start"),
        pl.lit(end).alias("period_end"),
    )  # fmt: skip
    trades = exchange_trades.with_columns(account=pl.lit("main"))
    fifo = pnl.realised_pnl(trades, periods, "fifo").filter(pl.col("sells") > 0)
    average = pnl.realised_pnl(trades, periods, "average")
    rows = []
    for row in fifo.iter_rows(named=True):
        key = (row["asset"], row["currency"])
        value = row["realised_pnl"]
        if key == ("DOGE", "USD"):
            continue
        if key == ("SOL", "USD"):
            value += row["sell_fees_in_quote"]
        if key == ("BTC", "USD"):
            value = average.filter(asset="BTC", currency="USD")["realised_pnl"].item()
        rows.append({"account": "main", "asset": row["asset"], "realised_pnl": format(value, "f"),
                     "currency": row["currency"], "period_start": PNL_PERIOD[0],
                     "period_end": PNL_PERIOD[1]})  # fmt: skip
    return _csv(rows)


def load(by=None) -> dict[str, int]:
    """Load (or find, if already loaded) the demo datasets; returns {name: dataset id}."""
    accounts = _accounts()
    ledger, trades = _ledger_rows(), _trade_rows()
    as_of = _iso(ledger[-1]["time"])
    ledger_file = (SAMPLES / "kraken_ledgers.csv").read_bytes()
    trades_file = (SAMPLES / "kraken_trades.csv").read_bytes()
    loads = {
        "kraken ledgers": (accounts.kraken, "kraken-ledgers", ledger_file),
        "kraken trades": (accounts.kraken, "kraken-trades", trades_file),
        "book balances": (accounts.book, "generic-balances", book_balances(ledger, as_of)),
        "book trades": (accounts.book, "generic-trades", book_trades(trades)),
        "prices": (None, "prices", prices(trades, as_of)),
        "book margin": (accounts.book, "generic-margin", margin(as_of, book=True)),
        "kraken margin": (accounts.kraken, "generic-margin", margin(as_of, book=False)),
    }  # fmt: skip
    loaded = {}
    for name, (account, format_code, data) in loads.items():
        source = account.source if account else accounts.prices.source
        result = ingest.import_file(
            source=source, account=account, format_code=format_code, data=data,
            filename=name.replace(" ", "-") + ".csv", by=by,
        )  # fmt: skip
        loaded[name] = result.dataset.pk
    exchange_trades = frames.load(Dataset.objects.get(pk=loaded["kraken trades"]))
    loaded["book pnl"] = ingest.import_file(
        source=accounts.book.source, account=accounts.book, format_code="generic-pnl",
        data=book_pnl(exchange_trades), filename="book-pnl.csv", by=by,
    ).dataset.pk  # fmt: skip
    return loaded
