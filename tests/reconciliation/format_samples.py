"""Every import format's sample file, and the figures its stored records must add up to.

`test_every_format_stores.py` stores each sample through every door (upload page, API,
`import_dataset`) and reads it back with `export_dataset`. A format in `ingest.FORMATS` without
an entry in `SAMPLES` fails there: a new format comes with a real-layout file under tests/data/
and figures stated independently of the loader (the exchange's own totals in expected.json,
or worked out by hand from the file).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Context, Decimal
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
Records = list[dict[str, str]]  # rows of export_dataset's CSV
EXACT = Context(prec=80)  # 38 digits times 38 digits, summed, never rounded


@dataclass(frozen=True)
class Sample:
    path: Path
    records: int  # how many records it stores: its rows, plus rows they imply (cash legs)
    figures: Callable[[Records], dict[str, Decimal]]  # from the exported records
    expected: dict[str, str]  # the same figures, stated independently
    source_kind: str = "exchange"  # an exchange format's source is of its exchange
    account: str | None = "main"  # None: loaded for the source alone (prices)


@cache
def expected(folder: str) -> dict:
    return json.loads((DATA / folder / "expected.json").read_text())["files"]


@cache
def expected_statements() -> dict:
    """The statement samples' figures, as their generator wrote them."""
    return json.loads((DATA / "exchange" / "statement_margin_expected.json").read_text())


def _added(pairs) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for key, value in pairs:
        sums[key] = EXACT.add(sums.get(key, Decimal(0)), value)
    return sums


def _number(text: str) -> Decimal:
    return Decimal(text) if text != "" else Decimal(0)


def ledger_net(*key: str) -> Callable[[Records], dict[str, Decimal]]:
    """Σ (amount - fee) per `key` columns: the net change of each balance."""
    return lambda rows: _added(
        (
            " | ".join(row[k] for k in key),
            EXACT.subtract(_number(row["amount"]), _number(row["fee"])),
        )
        for row in rows
    )


def trade_net(rows: Records) -> dict[str, Decimal]:
    """Net change per asset: base ± quantity, quote ∓ cost (quantity * price if none), - fee."""

    def legs(row):
        bought = row["side"] == "buy"
        quantity = Decimal(row["quantity"])
        price = Decimal(row["price"])
        cost = Decimal(row["cost"]) if row["cost"] else EXACT.multiply(quantity, price)
        yield row["base"], quantity if bought else quantity.copy_negate()
        yield row["quote"], cost.copy_negate() if bought else cost
        yield row["fee_asset"], Decimal(row["fee"]).copy_negate()

    return _added(leg for row in rows for leg in legs(row))


def per_pair(rows: Records) -> dict[str, Decimal]:
    """Kraken's per-pair sums of its own columns: volume and cost by side, and fee."""

    def figures(row):
        side = row["side"]
        yield f"{row['pair']} {side}_vol", Decimal(row["quantity"])
        yield f"{row['pair']} {side}_cost", Decimal(row["cost"])
        yield f"{row['pair']} fee", Decimal(row["fee"])

    return _added(figure for row in rows for figure in figures(row))


def kraken_trades(rows: Records) -> dict[str, Decimal]:
    """Per pair (as `per_pair`), and per asset the net change of spot trades (margin excluded:
    a margin fill moves no balance; Kraken's `margin` column, kept in extra, says which)."""
    spot = [row for row in rows if Decimal(json.loads(row["extra"]).get("margin") or 0) == 0]
    net = {f"spot net {asset}": value for asset, value in trade_net(spot).items()}
    return per_pair(rows) | net


def column_sums(key: str, *columns: str) -> Callable[[Records], dict[str, Decimal]]:
    """Σ of each of `columns` per `key` ('asset', 'asset/quote'…, from the records' columns)."""

    def keyed(row) -> str:
        return "/".join(row[part] for part in key.split("/"))

    def sums(rows: Records) -> dict[str, Decimal]:
        if len(columns) == 1:
            return _added((keyed(row), _number(row[columns[0]])) for row in rows)
        return _added(
            (f"{keyed(row)} {column}", Decimal(row[column]))
            for row in rows
            for column in columns
            if row[column] != ""
        )

    return sums


def _kraken_ledger_changes() -> dict[str, str]:
    balances = expected("exchange")["kraken_ledgers.csv"]["balances"]
    return {
        key: str(EXACT.subtract(Decimal(figures["closing"]), Decimal(figures["opening"])))
        for key, figures in balances.items()
    }


def _kraken_trades() -> dict[str, str]:
    stated = expected("exchange")["kraken_trades.csv"]
    pairs = {
        f"{pair} {name}": value
        for pair, figures in stated["per_pair"].items()
        for name, value in figures.items()
        if name in ("buy_vol", "sell_vol", "buy_cost", "sell_cost", "fee")
    }
    spot = stated["spot_net_as_reported_fee_in_quote"]
    return pairs | {f"spot net {asset}": value for asset, value in spot.items()}


def _coinbase_records() -> int:
    """Its rows, plus one cash leg per buy or sell (counted from the file, not the loader)."""
    lines = (DATA / "exchange" / "coinbase_transactions.csv").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("ID,Timestamp,"))
    rows = list(csv.DictReader(lines[header:]))
    trades = [row for row in rows if row["Transaction Type"].lower() in COINBASE_TRADES]
    return len(rows) + len(trades)


COINBASE_TRADES = ("buy", "sell", "advanced trade buy", "advanced trade sell")


def _book(name: str, figures, figure: str, **options) -> Sample:
    """A book or prices sample: its record count and figures are in book/expected.json."""
    stated = expected("book")[name]
    return Sample(
        DATA / "book" / name,
        records=stated["records"],
        figures=figures,
        expected=stated[figure],
        source_kind=options.pop("source_kind", "internal"),
        **options,
    )


EXCHANGE = DATA / "exchange"

SAMPLES: dict[str, Sample] = {
    "kraken-ledgers": Sample(
        EXCHANGE / "kraken_ledgers.csv",
        records=288,
        figures=ledger_net("asset", "wallet"),
        expected=_kraken_ledger_changes(),
    ),
    "kraken-trades": Sample(
        EXCHANGE / "kraken_trades.csv",
        records=176,
        figures=kraken_trades,
        expected=_kraken_trades(),
    ),
    "coinbase": Sample(
        EXCHANGE / "coinbase_transactions.csv",
        records=_coinbase_records(),
        figures=ledger_net("asset"),
        expected=expected("exchange")["coinbase_transactions.csv"]["net_by_asset"],
    ),
    "binance": Sample(
        EXCHANGE / "binance_trades.csv",
        records=115,
        figures=trade_net,
        expected=expected("exchange")["binance_trades.csv"]["net_by_asset"],
    ),
    "binance-statement": Sample(
        EXCHANGE / "binance_statement_2021.csv",
        records=expected_statements()["binance_statement_2021.csv"]["data_rows"],
        figures=ledger_net("asset"),
        expected=expected_statements()["binance_statement_2021.csv"]["net_by_asset"],
    ),
    "generic-balances": _book(
        "balances.csv", column_sums("asset", "quantity"), "quantity_by_asset"
    ),
    "generic-trades": _book("trades.json", trade_net, "net_by_asset"),
    "generic-ledger": _book("ledger.csv", ledger_net("asset"), "net_by_asset"),
    "generic-margin": _book(
        "margin.csv",
        column_sums("asset", "collateral", "used_margin", "open_position"),
        "sums_by_asset",
    ),
    "generic-pnl": _book(
        "pnl.csv", column_sums("asset/currency", "realised_pnl"), "realised_by_asset"
    ),
    "prices": _book(
        "prices.csv",
        column_sums("asset/quote", "price"),
        "price_sums",
        source_kind="price_feed",
        account=None,
    ),
}
