"""Kraken CSV exports: `ledgers.csv` and `trades.csv`, every header variant (no Django here).

Columns are mapped by name, never by position: the export screen lets users pick fields, and
Kraken added `subtype` (2020), `wallet` and `amountusd` (2024) and `subclass` (2025) over time
(/work/shared/EXCHANGE-FORMATS.md sections 1 and 2). Whatever is not mapped to a canonical column
is kept, as text, in `extra`.

`parse_trades` is vectorised with pyarrow.compute end to end: Python runs once per distinct pair
and on the error path only, so a million-row file parses in about two seconds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc

from .assets import malformed_assets, normalise_code
from .base import (
    FileRejected,
    Parsed,
    RowErrors,
    blank,
    canonical_table,
    decimals,
    duplicates,
    extra_json,
    one_of,
    optional_text,
    required_text,
    utc_times,
)
from .reading import asset_codes, column, has_control_characters, lower_names, read_export, require

LEDGER_REQUIRED = ["txid", "refid", "time", "type", "asset", "amount", "fee", "balance"]
LEDGER_MAPPED = {*LEDGER_REQUIRED, "subtype", "wallet"}

TRADES_REQUIRED = ["txid", "ordertxid", "pair", "time", "type", "price", "cost", "fee", "vol"]
TRADES_MAPPED = {*TRADES_REQUIRED, "trade_id"}

# Quote currencies a REST pair id (`XDGUSD`, `SOLUSD`, `USDCUSD`) can end with, longest first.
KRAKEN_QUOTES = sorted(
    [
        "ZUSD", "ZEUR", "ZGBP", "ZCAD", "ZJPY", "ZCHF", "ZAUD", "XXBT", "XETH",
        "USDT", "USDC", "PYUSD", "USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD",
        "XBT", "ETH", "DAI", "DOT",
    ],
    key=len,
    reverse=True,
)  # fmt: skip


# --- Reading (shared by the Coinbase and Binance importers) -------------------------------------


def parse_ledgers(data: bytes, *, aliases: dict[str, str]) -> Parsed:
    """A Kraken `ledgers.csv` (variants L1-L7) as canonical ledger rows.

    Rows with neither txid nor balance are Kraken's "pending" first sightings of deposits,
    withdrawals and staking transfers; they appear again later with a txid, so they are skipped
    and counted in `notes["skipped_pending_rows"]`.
    """
    table, rows = read_export(data, "a Kraken ledgers CSV export")
    table = lower_names(table)
    require(table, LEDGER_REQUIRED, "a Kraken ledgers export")

    pending = pc.and_(blank(table["txid"]), blank(table["balance"]))
    skipped = pc.sum(pending).as_py() or 0
    if skipped:
        keep = pc.invert(pending)
        table, rows = table.filter(keep), rows.filter(keep)
    notes = {"skipped_pending_rows": skipped}
    if table.num_rows == 0:
        raise FileRejected("The file has only pending rows (no txid), nothing to load.")

    errors = RowErrors()
    length = table.num_rows
    entry_id = required_text(column(table, "txid"), rows, "txid", errors)
    reference = required_text(column(table, "refid"), rows, "refid", errors)
    occurred_at = utc_times(column(table, "time"), rows, "time", errors)
    kind = pc.utf8_lower(required_text(column(table, "type"), rows, "type", errors))
    asset = asset_codes(column(table, "asset"), rows, "asset", aliases, errors)
    amount = decimals(column(table, "amount"), rows, "amount", errors)
    fee = decimals(column(table, "fee"), rows, "fee", errors)
    balance = decimals(column(table, "balance"), rows, "balance", errors, required=False)
    duplicates(entry_id, rows, "txid", errors)
    if errors:
        return Parsed("ledger", None, errors, notes)

    subtype = column(table, "subtype") if "subtype" in table.column_names else None
    wallet = column(table, "wallet") if "wallet" in table.column_names else None
    others = [name for name in table.column_names if name not in LEDGER_MAPPED]
    result = canonical_table(
        "ledger",
        {
            "row_number": rows,
            "entry_id": entry_id,
            "reference": reference,
            "asset": asset,
            "wallet": optional_text(wallet, length),
            "amount": amount,
            "fee": fee,
            "balance": balance,
            "type": kind,
            "subtype": optional_text(subtype, length),
            "occurred_at": occurred_at,
            "extra": extra_json(table, others, controls=has_control_characters(data)),
        },
    )
    return Parsed("ledger", result, errors, notes)


# --- trades.csv ---------------------------------------------------------------------------------


def split_pair(pair: str, aliases: dict[str, str]) -> tuple[str, str] | None:
    """`BASE/QUOTE` or a REST pair id (`XXBTZUSD`, `XDGUSD`) as (base, quote), normalised."""
    pair = pair.strip().upper()
    if "/" in pair:
        base, _, quote = pair.partition("/")
    elif len(pair) == 8 and pair[0] in "XZ" and pair[4] in "XZ":
        base, quote = pair[:4], pair[4:]
    else:
        base = quote = ""
        for suffix in KRAKEN_QUOTES:
            if pair.endswith(suffix) and len(pair) > len(suffix):
                base, quote = pair[: -len(suffix)], suffix
                break
    base, quote = base.strip(), quote.strip()
    if not base or not quote:
        return None
    return normalise_code(base, aliases), normalise_code(quote, aliases)


def pairs_split(
    pairs: pa.Array, rows: pa.Array, name: str, errors: RowErrors, splitter
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(pair as BASE/QUOTE, base, quote), splitting each distinct pair once."""
    distinct = pc.unique(pairs)
    splits = [None if p is None else splitter(p) for p in distinct.to_pylist()]
    index = pc.index_in(pairs, distinct)
    bases = pc.take(pa.array([s[0] if s else None for s in splits], pa.string()), index)
    quotes = pc.take(pa.array([s[1] if s else None for s in splits], pa.string()), index)
    unsplit = pc.and_(pc.is_null(bases), pc.invert(blank(pairs)))
    errors.add_mask(unsplit, rows, pairs, name, "cannot tell the base and quote of this pair")
    bad_asset = pc.or_(malformed_assets(bases), malformed_assets(quotes))
    errors.add_mask(
        pc.and_(bad_asset, pc.invert(pc.is_null(bases))), rows, pairs, name,
        "the pair does not name two valid asset codes",
    )  # fmt: skip
    bases, quotes = pc.fill_null(bases, ""), pc.fill_null(quotes, "")
    return pc.binary_join_element_wise(bases, quotes, "/"), bases, quotes


def parse_trades(data: bytes, *, aliases: dict[str, str]) -> Parsed:
    """A Kraken `trades.csv` (variants T1, T2, T3, T3+) as canonical trades (one row per fill).

    Kraken states the trades fee in the quote currency ("not necessarily the fee that was
    deducted"), so `fee_asset` is the quote; the ledger shows where it was really charged.
    """
    table, rows = read_export(data, "a Kraken trades CSV export")
    table = lower_names(table)
    require(table, TRADES_REQUIRED, "a Kraken trades export")
    others = [name for name in table.column_names if name not in TRADES_MAPPED]
    controls = has_control_characters(data)

    # Arrow kernels release the GIL: build `extra` (the costliest step) on a second core while
    # the checks run here.
    with ThreadPoolExecutor(max_workers=1) as pool:
        extra = pool.submit(extra_json, table, others, controls=controls)
        errors, columns = _check_trades(table, rows, aliases)
        if errors:
            extra.cancel()
            return Parsed("trades", None, errors)
        columns["extra"] = extra.result()
    return Parsed("trades", canonical_table("trades", columns), errors)


def _check_trades(table: pa.Table, rows: pa.Array, aliases) -> tuple[RowErrors, dict]:
    errors = RowErrors()
    length = table.num_rows
    trade_id = required_text(column(table, "txid"), rows, "txid", errors)
    order_id = optional_text(column(table, "ordertxid"), length)
    pair_values = required_text(column(table, "pair"), rows, "pair", errors)
    pair, base, quote = pairs_split(
        pair_values, rows, "pair", errors, lambda p: split_pair(p, aliases)
    )
    side = one_of(column(table, "type"), rows, "type", {"buy", "sell"}, errors)
    quantity = decimals(column(table, "vol"), rows, "vol", errors)
    price = decimals(column(table, "price"), rows, "price", errors)
    cost = decimals(column(table, "cost"), rows, "cost", errors)
    fee = decimals(column(table, "fee"), rows, "fee", errors)
    executed_at = utc_times(column(table, "time"), rows, "time", errors)
    duplicates(trade_id, rows, "txid", errors)
    if errors:
        return errors, {}

    exchange_id = column(table, "trade_id") if "trade_id" in table.column_names else None
    return errors, {
        "row_number": rows,
        "trade_id": trade_id,
        "order_id": order_id,
        "exchange_trade_id": optional_text(exchange_id, length),
        "pair": pair,
        "base": base,
        "quote": quote,
        "side": side,
        "quantity": quantity,
        "price": price,
        "cost": cost,
        "fee": fee,
        "fee_asset": quote,
        "executed_at": executed_at,
    }
