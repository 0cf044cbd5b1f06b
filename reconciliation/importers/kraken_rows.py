"""Kraken's REST answers into canonical tables: exact strings in, no floats (no Django here).

Used by `exchange_api.fetch_kraken`, which does the calling, paging and error handling.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

import pyarrow as pa

from .assets import malformed_assets, normalise_assets, normalise_code
from .base import (
    TIME,
    Parsed,
    RowErrors,
    canonical_table,
    decimals,
    extra_json,
    one_of,
    required_text,
)

MAX_UNIX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z


def unix_seconds(moment: datetime) -> Decimal:
    """Seconds since 1970 as an exact decimal (microseconds, no float)."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micros).scaleb(-6)


def _text(value) -> str | None:
    """A JSON value as text: strings as sent, numbers in plain notation, booleans in JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return format(Decimal(repr(value)) if isinstance(value, float) else value, "f")
    if isinstance(value, list | tuple):
        return ",".join(_text(item) or "" for item in value)
    return json.dumps(value, sort_keys=True, default=str)


def int_or(value, *, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _unix_micros(value) -> int | None:
    """A Unix time in seconds (JSON float or string) as integer microseconds, exactly."""
    text = _text(value)
    if text is None or text.strip() == "":
        return None
    try:
        seconds = Decimal(text.strip())
    except ArithmeticError:
        return None
    if not seconds.is_finite() or abs(seconds) > MAX_UNIX_SECONDS:
        return None
    return int((seconds * 1_000_000).to_integral_value(rounding=ROUND_HALF_EVEN))


def _times(values: list, rows: pa.Array, column: str, errors: RowErrors) -> pa.Array:
    micros = []
    for row, value in zip(rows.to_pylist(), values, strict=True):
        converted = _unix_micros(value)
        if converted is None:
            errors.add(row, column, _text(value), "not a Unix time in seconds")
        micros.append(converted)
    return pa.array(micros, pa.int64()).cast(TIME)


def _strings(values: Iterable) -> pa.Array:
    return pa.array([_text(value) for value in values], pa.string())


def _extras(records: list[dict], consumed: set[str], first: dict[str, list]) -> pa.Array:
    """The `extra` JSON: `first` columns, then every key of the records not in `consumed`."""
    names = list(first)
    for record in records:
        for name in record:
            if name not in consumed and name not in names:
                names.append(name)
    columns = dict(first)
    for name in names:
        if name not in columns:
            columns[name] = [record.get(name) for record in records]
    table = pa.table({name: _strings(columns[name]) for name in names}) if names else None
    if table is None:
        return pa.array(["{}"] * len(records), pa.string())
    return extra_json(table, names)


def _chronological(entries: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """Oldest first: the API's newest-first order reversed, then (stably) by time."""
    entries = [(key, entry if isinstance(entry, dict) else {}) for key, entry in entries]
    entries.reverse()
    return sorted(entries, key=lambda item: _unix_micros(item[1].get("time")) or 0)


def _since_micros(since: datetime | None) -> int | None:
    return None if since is None else int(unix_seconds(since).scaleb(6))


def _after_since(entries: list[tuple[str, dict]], since: datetime | None):
    limit = _since_micros(since)
    if limit is None:
        return entries, 0
    kept = []
    for item in entries:
        micros = _unix_micros(item[1].get("time"))
        if micros is None or micros >= limit:  # a missing time is reported, not dropped
            kept.append(item)
    return kept, len(entries) - len(kept)


def _row_numbers(length: int) -> pa.Array:
    return pa.array(range(1, length + 1), pa.int64())


@dataclass(frozen=True)
class _Records:
    """An answer's entries, oldest first and from `since` on, with row numbers and columns."""

    keys: list[str]
    records: list[dict]
    rows: pa.Array
    dropped: int

    @classmethod
    def of(cls, entries: list, since: datetime | None) -> _Records:
        kept, dropped = _after_since(_chronological(entries), since)
        records = [entry for _, entry in kept]
        return cls([key for key, _ in kept], records, _row_numbers(len(records)), dropped)

    def field(self, name: str) -> pa.Array:
        return _strings(record.get(name) for record in self.records)

    def text(self, name: str) -> pa.Array:
        return pa.array([_text(r.get(name)) or "" for r in self.records], pa.string())


def _assets(codes: pa.Array, rows: pa.Array, column: str, aliases, errors: RowErrors):
    codes = required_text(codes, rows, column, errors)
    assets = normalise_assets(codes, aliases)
    errors.add_mask(malformed_assets(assets), rows, codes, column, "not a recognisable asset code")
    return assets


# --- Balances -----------------------------------------------------------------------------------


def balances_table(result: dict, aliases: dict[str, str], as_of: datetime) -> Parsed:
    errors = RowErrors()
    items = sorted(
        ((str(code), value) for code, value in result.items()),
        key=lambda item: (normalise_code(item[0], aliases), item[0]),
    )
    records = [value if isinstance(value, dict) else {"balance": value} for _, value in items]
    rows = _row_numbers(len(items))
    codes = pa.array([code for code, _ in items], pa.string())
    columns = {
        "row_number": rows,
        "asset": _assets(codes, rows, "asset", aliases, errors),
        "wallet": pa.array([""] * len(items), pa.string()),
        "quantity": decimals(
            _strings(record.get("balance") for record in records), rows, "quantity", errors
        ),
        "as_of": pa.array([as_of] * len(items), TIME),
        "extra": _extras(records, {"balance"}, {"kraken_asset": [code for code, _ in items]}),
    }
    _one_row_per_asset(columns["asset"], codes, rows, errors)
    return Parsed("balances", canonical_table("balances", columns), errors)


def _one_row_per_asset(assets: pa.Array, codes: pa.Array, rows: pa.Array, errors: RowErrors):
    seen: dict[str, tuple[int, str]] = {}
    for row, asset, code in zip(
        rows.to_pylist(), assets.to_pylist(), codes.to_pylist(), strict=True
    ):
        if asset in seen:
            first_row, first_code = seen[asset]
            errors.add(
                row, "asset", code,
                f"Kraken codes {first_code} (row {first_row}) and {code} both map to {asset}: "
                "fix the asset aliases",
            )  # fmt: skip
        else:
            seen[asset] = (row, code)


# --- Ledger -------------------------------------------------------------------------------------

_LEDGER_FIELDS = {"refid", "time", "type", "subtype", "asset", "amount", "fee", "balance", "wallet"}


def ledger_table(entries: list, aliases: dict[str, str], since: datetime | None) -> Parsed:
    errors = RowErrors()
    answer = _Records.of(entries, since)
    records, rows, dropped = answer.records, answer.rows, answer.dropped
    field, text = answer.field, answer.text
    columns = {
        "row_number": rows,
        "entry_id": pa.array(answer.keys, pa.string()),
        "reference": text("refid"),
        "asset": _assets(field("asset"), rows, "asset", aliases, errors),
        "wallet": text("wallet"),
        "amount": decimals(field("amount"), rows, "amount", errors),
        "fee": decimals(field("fee"), rows, "fee", errors),
        "balance": decimals(field("balance"), rows, "balance", errors, required=False),
        "type": text("type"),
        "subtype": text("subtype"),
        "occurred_at": _times([record.get("time") for record in records], rows, "time", errors),
        "extra": _extras(
            records, _LEDGER_FIELDS, {"kraken_asset": [record.get("asset") for record in records]}
        ),
    }
    notes = {"dropped_before_since": dropped} if dropped else {}
    return Parsed("ledger", canonical_table("ledger", columns), errors, notes)


# --- Trades -------------------------------------------------------------------------------------

_TRADE_FIELDS = {"ordertxid", "pair", "time", "type", "price", "cost", "fee", "vol", "trade_id"}


class PairResolver:
    """Kraken REST pair ids (XXBTZUSD, XDGUSD) to normalised (base, quote), via AssetPairs."""

    def __init__(self, client, aliases: dict[str, str]):
        self.aliases = aliases
        self.pairs: dict[str, tuple[str, str]] = {}
        for pair_id, markets in (getattr(client, "markets_by_id", None) or {}).items():
            market = markets[0] if isinstance(markets, list) and markets else markets
            info = (market or {}).get("info") or {}
            base, quote = info.get("base"), info.get("quote")
            if base and quote:
                self.pairs[pair_id] = (base, quote)
                if info.get("altname"):
                    self.pairs.setdefault(info["altname"], (base, quote))
        self.codes: set[str] = set()
        for code, currency in (getattr(client, "currencies_by_id", None) or {}).items():
            self.codes.add(code)
            altname = ((currency or {}).get("info") or {}).get("altname")
            if altname:
                self.codes.add(altname)

    def resolve(self, pair_id: str) -> tuple[str, str] | None:
        found = self.pairs.get(pair_id)
        if found is None:
            # A pair no longer listed: split the id into two known asset codes, if only one way.
            splits = [
                (pair_id[:cut], pair_id[cut:])
                for cut in range(1, len(pair_id))
                if pair_id[:cut] in self.codes and pair_id[cut:] in self.codes
            ]
            if len(splits) != 1:
                return None
            found = splits[0]
        return normalise_code(found[0], self.aliases), normalise_code(found[1], self.aliases)


def trades_table(entries: list, aliases, since: datetime | None, pairs: PairResolver) -> Parsed:
    errors = RowErrors()
    answer = _Records.of(entries, since)
    records, rows, dropped = answer.records, answer.rows, answer.dropped
    field, text = answer.field, answer.text
    bases, quotes, names = [], [], []
    for row, record in zip(rows.to_pylist(), records, strict=True):
        pair_id = _text(record.get("pair")) or ""
        resolved = pairs.resolve(pair_id) if pair_id else None
        if resolved is None:
            errors.add(
                row, "pair", pair_id,
                "unknown Kraken pair: not in Kraken's AssetPairs list, and not two known assets",
            )  # fmt: skip
            resolved = ("", "")
        bases.append(resolved[0])
        quotes.append(resolved[1])
        names.append(f"{resolved[0]}/{resolved[1]}" if resolved[0] else "")
    quote = pa.array(quotes, pa.string())
    columns = {
        "row_number": rows,
        "trade_id": pa.array(answer.keys, pa.string()),
        "order_id": text("ordertxid"),
        "exchange_trade_id": text("trade_id"),
        "pair": pa.array(names, pa.string()),
        "base": pa.array(bases, pa.string()),
        "quote": quote,
        "side": one_of(field("type"), rows, "type", {"buy", "sell"}, errors),
        "quantity": decimals(field("vol"), rows, "vol", errors),
        "price": decimals(field("price"), rows, "price", errors),
        "cost": decimals(field("cost"), rows, "cost", errors, required=False),
        "fee": decimals(field("fee"), rows, "fee", errors),
        "fee_asset": quote,
        "executed_at": _times([record.get("time") for record in records], rows, "time", errors),
        "extra": _extras(
            records, _TRADE_FIELDS, {"kraken_pair": [record.get("pair") for record in records]}
        ),
    }
    notes = {"dropped_before_since": dropped} if dropped else {}
    return Parsed("trades", canonical_table("trades", columns), errors, notes)
