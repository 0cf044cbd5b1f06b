"""Binance spot trade history CSV (B1-B4) as canonical trades (no Django here).

Pairs have no separator (`BTCUSDT`, `1INCHUSDT`) and `Executed`/`Amount`/`Fee` carry their asset
as a suffix (`100.0001INCH`), so the pair is split with a list of known quote assets, longest
first, and the suffixes are removed with the pair's own base and quote, never guessed by a
regex. B3/B4 `Time` is local time whose offset is only in the file name
(`…(UTC--6)_abcd.csv` means UTC-6), see /work/shared/EXCHANGE-FORMATS.md section 5.1.

Binance gives no trade id before B4 (and B4's `Order No` is the order's), so `trade_id` is
`<UTC time ISO>-<pair as written>-<side>-<n>`, n counting identical (time, pair, side) rows in
file order. Rows are never merged: partial fills in the same second stay separate trades.
"""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pyarrow.compute as pc

from .assets import malformed_assets, normalise_code
from .base import (
    Parsed,
    RowErrors,
    canonical_table,
    checked_as_written,
    decimals,
    extra_json,
    one_of,
    optional_text,
    required_text,
    strip,
    utc_times,
)
from .reading import column, lower_names, read_export, refuse_missing

QUOTES = sorted(
    [
        "USDT", "FDUSD", "USDC", "BUSD", "TUSD", "USDP", "USDS", "AEUR", "EURI", "BIDR",
        "IDRT", "BVND", "BKRW", "UST", "PAX", "DAI", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL",
        "GBP", "AUD", "RUB", "UAH", "NGN", "ZAR", "PLN", "RON", "ARS", "JPY", "MXN", "COP",
        "CZK", "XRP", "TRX", "DOGE", "DOT", "VAI",
    ],
    key=len,
    reverse=True,
)  # fmt: skip

OFFSET_IN_NAME = re.compile(r"\(UTC\s*([+-]*)\s*([0-9]{1,2})(?::?([0-9]{2}))?\)", re.IGNORECASE)
DISPLAY = {
    "date(utc)": "Date(UTC)", "time": "Date(UTC) or Time", "pair": "Pair", "side": "Side",
    "price": "Price", "executed": "Executed", "amount": "Amount", "fee": "Fee",
    "market": "Market", "type": "Type", "total": "Total", "fee coin": "Fee Coin",
}  # fmt: skip
TWO_DIGIT_YEAR = r"^([0-9]{2}-[0-9]{1,2}-[0-9]{1,2}[ T])"


def file_offset(filename: str) -> dt.timedelta | None:
    """The UTC offset a Binance file name states, e.g. `(UTC--6)` -> -6 h; None if none."""
    found = OFFSET_IN_NAME.search(filename or "")
    if not found:
        return None
    signs, hours, minutes = found.groups()
    offset = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
    return -offset if signs.endswith("-") else offset


def split_pair(pair: str, hint: str = "") -> tuple[str, str] | None:
    """`BTCUSDT` -> (`BTC`, `USDT`); `hint` is a quote asset seen in the Amount column."""
    pair = pair.strip().upper()
    for separator in ("/", "-", "_"):
        if separator in pair:
            base, _, quote = pair.partition(separator)
            return (base, quote) if base and quote else None
    for quote in QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return pair[: -len(quote)], quote
    if hint and pair.endswith(hint) and len(pair) > len(hint):
        return pair[: -len(hint)], hint
    return None


def _number_and_asset(value: str, candidates: tuple[str, ...]) -> tuple[str, str]:
    """`100.0001INCH` with candidates ('1INCH', 'USDT') -> ('100.000', '1INCH').

    A candidate (the pair's base and quote, longest first) wins; otherwise the asset is the
    letters-led suffix after the number (`0.0000114300BNB` -> BNB). No suffix -> ('…', '').
    """
    value = value.strip().upper()  # commas stay: decimals(grouping=True) reads or refuses them
    for asset in candidates:
        if asset and value.endswith(asset) and len(value) > len(asset):
            number = value[: -len(asset)]
            if re.fullmatch(r"[+-]?[0-9.,]*[0-9.]", number):  # decimals() checks it
                return number, asset
    found = re.fullmatch(r"([+-]?[0-9.,]*)([A-Z][A-Z0-9]*)", value)
    if found and found.group(1):
        return found.group(1), found.group(2)
    return value, ""


def parse_trades(data: bytes, *, aliases: dict[str, str], filename: str = "") -> Parsed:
    """A Binance spot trade history export (B1-B4) as canonical trades, one per CSV row."""
    table, rows = read_export(data, "a Binance spot trade history CSV")
    original = {name.lower(): name for name in table.column_names}
    table = lower_names(table)
    names = set(table.column_names)
    old_layout = "executed" not in names  # B1: Market,Type,Price,Amount,Total,Fee,Fee Coin
    time_name = "date(utc)" if "date(utc)" in names else "time"
    wanted = (
        [time_name, "market", "type", "price", "amount", "total", "fee", "fee coin"]
        if old_layout
        else [time_name, "pair", "side", "price", "executed", "amount", "fee"]
    )
    missing = [name for name in wanted if name not in names]
    shown = [DISPLAY.get(name, name) for name in missing]
    refuse_missing("a Binance spot trade history", shown, list(original.values()))
    pair_name, side_name = ("market", "type") if old_layout else ("pair", "side")
    quantity_name, cost_name = ("amount", "total") if old_layout else ("executed", "amount")

    def label(name: str) -> str:
        return original.get(name, name)

    errors = RowErrors()
    length = table.num_rows
    notes: dict = {}
    pairs_raw = pc.utf8_upper(
        required_text(column(table, pair_name), rows, label(pair_name), errors)
    )
    side = one_of(column(table, side_name), rows, label(side_name), {"buy", "sell"}, errors)

    # Pair -> base/quote, once per distinct pair (Amount's suffix helps with unlisted quotes).
    cost_values = column(table, cost_name).to_pylist()
    pair_list = pairs_raw.to_pylist()
    hints: dict[str, str] = {}
    for pair, cost in zip(pair_list, cost_values, strict=True):
        if pair not in hints:
            letters = re.search(r"[A-Z]+$", (cost or "").strip().upper())
            hints[pair] = letters.group(0) if letters else ""
    splits = {pair: split_pair(pair, hints[pair]) for pair in hints}
    bases, quotes = [], []
    for row, pair in zip(rows.to_pylist(), pair_list, strict=True):
        split = splits[pair]
        if split is None:
            if pair:
                errors.add(
                    row, label(pair_name), pair, "cannot tell the base and quote of this pair"
                )
            bases.append("")
            quotes.append("")
        else:
            bases.append(split[0])
            quotes.append(split[1])

    quantities, costs, fees, fee_assets = [], [], [], []
    fee_coins = column(table, "fee coin").to_pylist() if old_layout else [""] * length
    quantity_values = column(table, quantity_name).to_pylist()
    fee_values = column(table, "fee").to_pylist()
    for index, row in enumerate(rows.to_pylist()):
        base, quote = bases[index], quotes[index]
        number, asset = _number_and_asset(quantity_values[index], (base,))
        if asset and base and asset != base:
            errors.add(row, label(quantity_name), quantity_values[index],
                       f"the quantity is in {asset}, not in the pair's base {base}")  # fmt: skip
        quantities.append(number)
        number, asset = _number_and_asset(cost_values[index], (quote,))
        if asset and quote and asset != quote:
            errors.add(row, label(cost_name), cost_values[index],
                       f"the amount is in {asset}, not in the pair's quote {quote}")  # fmt: skip
        costs.append(number)
        candidates = tuple(sorted((base, quote), key=len, reverse=True))
        number, asset = _number_and_asset(fee_values[index], candidates)
        fees.append(number)
        fee_assets.append(asset or (fee_coins[index] or "").strip().upper())

    quantity = _decimals(quantities, quantity_values, rows, label(quantity_name), errors)
    cost = _decimals(costs, cost_values, rows, label(cost_name), errors)
    fee = _decimals(fees, fee_values, rows, label("fee"), errors)
    price_raw = column(table, "price")
    price = _decimals(price_raw.to_pylist(), price_raw.to_pylist(), rows, label("price"), errors)
    fee_asset = pa.array(fee_assets, pa.string())
    no_fee_asset = pc.and_(
        pc.equal(fee_asset, ""), pc.invert(pc.match_substring_regex(fee, r"^[+-]?[0.]*$"))
    )
    errors.add_mask(no_fee_asset, rows, column(table, "fee"), label("fee"),
                    "the fee does not say its asset")  # fmt: skip

    executed_at = local_times(
        column(table, time_name), rows, label(time_name), errors,
        local=time_name == "time", filename=filename, notes=notes,
    )  # fmt: skip
    if errors:
        return Parsed("trades", None, errors, notes)

    base = pa.array([normalise_code(code, aliases) for code in bases], pa.string())
    quote = pa.array([normalise_code(code, aliases) for code in quotes], pa.string())
    fee_asset = pa.array(
        [normalise_code(code, aliases) if code else "" for code in fee_assets], pa.string()
    )
    bad = pc.or_(malformed_assets(base), malformed_assets(quote))
    errors.add_mask(
        bad, rows, pairs_raw, label(pair_name), "the pair does not name two valid assets"
    )
    if errors:
        return Parsed("trades", None, errors, notes)

    trade_id = _trade_ids(executed_at, pair_list, side.to_pylist())
    order_id = optional_text(column(table, "order no") if "order no" in names else None, length)
    mapped = {time_name, pair_name, side_name, "price", quantity_name, cost_name, "fee", "order no"}
    if old_layout:
        mapped.add("fee coin")
    others = [name for name in table.column_names if name not in mapped]
    extra_table = table.rename_columns([label(name) for name in table.column_names])
    result = canonical_table(
        "trades",
        {
            "row_number": rows,
            "trade_id": trade_id,
            "order_id": order_id,
            "pair": pc.binary_join_element_wise(base, quote, "/"),
            "base": base,
            "quote": quote,
            "side": side,
            "quantity": quantity,
            "price": price,
            "cost": cost,
            "fee": fee,
            "fee_asset": fee_asset,
            "executed_at": executed_at,
            "extra": extra_json(extra_table, [label(name) for name in others]),
        },
    )
    return Parsed("trades", result, errors, notes)


def _decimals(cleaned: list, raw: list, rows: pa.Array, name: str, errors: RowErrors):
    """`base.decimals` on the cleaned numbers (grouping read or refused), errors as written."""
    numbers = pa.array(cleaned, pa.string())
    return checked_as_written(decimals, raw, rows, name, errors, numbers, grouping=True)


def local_times(values, rows, name, errors, *, local: bool, filename: str, notes: dict):
    """UTC times from Binance's `Date(UTC)`/`UTC_Time` (local False) or its local `Time`,
    shifted by the file name's offset (2- or 4-digit years either way)."""
    cleaned = pc.replace_substring_regex(strip(values), TWO_DIGIT_YEAR, r"20\1")
    times = checked_as_written(utc_times, values, rows, name, errors, cleaned)
    if local:
        offset = file_offset(filename)
        if offset is None:
            notes["time_zone_assumed"] = "UTC"
        else:
            notes["utc_offset"] = _offset_text(offset)
            times = pc.subtract(times, pa.scalar(offset, pa.duration("us")))
    return times


def _offset_text(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _trade_ids(times: pa.Array, pairs: list[str], sides: list[str]) -> pa.Array:
    seconds = pc.cast(times, pa.timestamp("s", tz="UTC"), safe=False)
    stamps = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
    counts: dict[tuple, int] = {}
    ids = []
    for stamp, pair, side in zip(stamps, pairs, sides, strict=True):
        key = (stamp, pair, side)
        counts[key] = counts.get(key, 0) + 1
        ids.append(f"{stamp}-{pair}-{side}-{counts[key]}")
    return pa.array(ids, pa.string())
