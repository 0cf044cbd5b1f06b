"""The generic format (SPEC 1.3): the internal book and prices as CSV, JSON or XLSX.

See docs/formats.md. Required columns per kind are in `REQUIRED`; other columns are kept in
`extra`. Numbers are plain decimal strings; times are ISO 8601 with an offset or Z.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import PurePath

import pyarrow as pa
import pyarrow.compute as pc

from reconciliation.importers import base, reading, spreadsheet
from reconciliation.importers.assets import malformed_assets, normalise_assets
from reconciliation.importers.base import FileRejected, Parsed, RowErrors

REQUIRED = {
    "balances": ["account", "asset", "quantity", "as_of"],
    "trades": [
        "trade_id", "account", "pair", "side", "quantity", "price", "fee", "fee_asset",
        "executed_at",
    ],
    "ledger": ["entry_id", "account", "asset", "amount", "fee", "type", "occurred_at"],
    "margin": ["account", "asset", "collateral", "used_margin", "as_of"],
    "prices": ["asset", "quote", "price", "as_of", "source"],
    "pnl": ["account", "asset", "realised_pnl", "currency", "period_start", "period_end"],
}  # fmt: skip
OPTIONAL = {
    "balances": ["wallet"],
    "trades": ["order_id", "exchange_trade_id", "cost"],
    "ledger": ["reference", "subtype", "wallet", "balance"],
    "margin": ["open_position"],
    "prices": [],
    "pnl": [],
}
# The columns that identify a row: a second row with the same key is a duplicate.
KEYS = {
    "balances": ["account", "asset", "wallet", "as_of"],
    "trades": ["trade_id"],
    "ledger": ["entry_id"],
    "margin": ["account", "asset", "as_of"],
    "prices": ["asset", "quote", "as_of", "price_source"],
    "pnl": ["account", "asset", "currency", "period_start", "period_end"],
}
CONTAINERS = {".csv": "CSV", ".json": "JSON", ".xlsx": "XLSX"}
PERIOD_AHEAD = timedelta(days=366)


def container_of(filename: str, data: bytes) -> str:
    """CSV, JSON or XLSX: by extension, checked against the content."""
    extension = PurePath(filename or "").suffix.lower()
    looks_like = reading.what_it_looks_like(data)
    stripped = data.lstrip(reading.BOM).lstrip()
    if extension == ".xlsx" or (not extension and data.startswith(b"PK\x03\x04")):
        if not data.startswith(b"PK\x03\x04"):
            raise FileRejected("The file is named .xlsx but is not an XLSX workbook.")
        return "XLSX"
    if extension not in ("", ".csv", ".json", ".txt"):
        raise FileRejected(f"Files ending in {extension} are not accepted: use CSV, JSON or XLSX.")
    if looks_like:
        raise FileRejected(f"The file is {looks_like}, not {CONTAINERS.get(extension, 'CSV')}.")
    if extension == ".json" or (not extension and stripped[:1] in (b"[", b"{")):
        return "JSON"
    return "CSV"


def read(filename: str, data: bytes, limits: spreadsheet.Limits) -> tuple[pa.Table, pa.Array]:
    """Every value as text, with row numbers, from CSV, JSON or XLSX."""
    container = container_of(filename, data)
    if container == "XLSX":
        return spreadsheet.read_first_sheet(data, limits)
    text = reading.expect_text(data, container)
    if container == "JSON":
        return _read_json(text)
    return reading.read_csv_strings(text)


class _Row(dict):
    """A JSON object that remembers the names it was given more than once."""

    repeated: tuple = ()


def _object(pairs: list[tuple[str, object]]) -> _Row:
    row = _Row(pairs)
    if len(row) != len(pairs):
        seen: set[str] = set()
        row.repeated = tuple(name for name, _ in pairs if name in seen or seen.add(name))
    return row


def _read_json(data: bytes) -> tuple[pa.Table, pa.Array]:
    try:
        # Numbers keep the digits as written: never through float.
        rows = json.loads(data, parse_float=str, parse_int=str, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise FileRejected(f"The file is not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
    except RecursionError as exc:
        raise FileRejected(TOO_DEEP) from exc
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise FileRejected("The JSON must be an array of objects, one per row.")
    if not rows:
        raise FileRejected("The JSON array is empty.")
    _refuse_repeated_names(rows)
    names: list[str] = []
    for row in rows:
        names.extend(name for name in row if name not in names)
    try:
        columns = {name: [_json_text(row.get(name)) for row in rows] for name in names}
        table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    except RecursionError as exc:
        raise FileRejected(TOO_DEEP) from exc
    except UnicodeEncodeError as exc:  # an escaped lone surrogate, such as "\ud800"
        raise FileRejected(_not_characters(rows)) from exc
    return table, pa.array(range(1, len(rows) + 1), pa.int64())


TOO_DEEP = "The JSON is nested too deeply to read: a row is one object of plain values."


def _refuse_repeated_names(rows: list[_Row]) -> None:
    """A row naming a column twice is ambiguous (which value counts?): a row error each."""
    errors = RowErrors()
    for number, row in enumerate(rows, start=1):
        for name in row.repeated:
            errors.add(number, name, _json_text(row[name]), "the row names this column twice")
    if errors:
        raise FileRejected("Some JSON rows name a column twice.", errors)


def _not_characters(rows: list[dict]) -> str:
    number = next(n for n, row in enumerate(rows, start=1) if not _encodable(row))
    return (
        f"Row {number} of the JSON holds an escape such as \\ud800 that is half of a character "
        "pair (a lone surrogate), not a character."
    )


def _encodable(row: dict) -> bool:
    try:
        json.dumps(row, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def _json_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def parse(
    kind: str,
    filename: str,
    data: bytes,
    *,
    account: str | None,
    aliases: dict[str, str],
    limits: spreadsheet.Limits,
) -> Parsed:
    """Parse a generic file of `kind`; `account` (if given) must match every row's account."""
    table, rows = read(filename, data, limits)
    names = [name.strip().lower() for name in table.column_names]
    base.plain_column_names(names)  # JSON keys and XLSX headers too
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FileRejected(f"The header names a column twice: {', '.join(repeated)}.")
    table = table.rename_columns(names)
    reading.require_columns(table, REQUIRED[kind], f"a generic {kind} file")
    return parse_table(kind, table, rows, account=account, aliases=aliases)


def parse_table(
    kind: str, table: pa.Table, rows: pa.Array, *, account: str | None, aliases: dict[str, str]
) -> Parsed:
    """Validate and normalise a table of text columns (also used for JSON rows posted by API)."""
    errors = RowErrors()
    known = REQUIRED[kind] + OPTIONAL[kind]
    columns = _COLUMN_PARSERS[kind](table, rows, errors, aliases)
    columns["row_number"] = rows
    columns["extra"] = base.extra_json(table, [n for n in table.column_names if n not in known])
    if "account" in columns and account is not None:
        other = pc.not_equal(columns["account"], pa.scalar(account))
        errors.add_mask(
            other, rows, columns["account"], "account",
            f"the row is for another account than the one being loaded ({account})",
        )  # fmt: skip
    canonical = base.canonical_table(kind, columns)
    keys = _key_strings(canonical, KEYS[kind])
    base.duplicates(keys, rows, "+".join(KEYS[kind]), errors)
    return Parsed(kind, None if errors else canonical, errors)


def _key_strings(table: pa.Table, names: list[str]) -> pa.Array:
    parts = [pc.fill_null(table[name].cast(pa.string()), "") for name in names]
    if len(parts) == 1:
        return parts[0].combine_chunks()
    return pc.binary_join_element_wise(*parts, "\x1f").combine_chunks()


def _text(table, name):
    return table[name].combine_chunks() if name in table.column_names else None


def _asset(table, rows, name, errors, aliases):
    values = base.required_text(_text(table, name), rows, name, errors)
    assets = normalise_assets(values, aliases)
    errors.add_mask(
        pc.and_(malformed_assets(assets), pc.invert(base.blank(values))), rows, values, name,
        "not an asset code (letters and digits, optionally a suffix such as .S)",
    )  # fmt: skip
    return assets


def _balances(table, rows, errors, aliases):
    return {
        "account": base.required_text(_text(table, "account"), rows, "account", errors),
        "asset": _asset(table, rows, "asset", errors, aliases),
        "wallet": base.optional_text(_text(table, "wallet"), len(rows)),
        "quantity": base.decimals(_text(table, "quantity"), rows, "quantity", errors),
        "as_of": base.iso_times(_text(table, "as_of"), rows, "as_of", errors),
    }


def _trades(table, rows, errors, aliases):
    pair = base.required_text(_text(table, "pair"), rows, "pair", errors)
    well_formed = pc.fill_null(pc.match_substring_regex(pair, r"^[^/\s]+/[^/\s]+$"), False)
    # Split only well-formed pairs: a pair without '/' has no second half to take.
    halves = pc.split_pattern(pc.if_else(well_formed, pair, pa.scalar("/")), "/")
    errors.add_mask(
        pc.and_(pc.invert(well_formed), pc.invert(base.blank(pair))), rows, pair, "pair",
        "must be BASE/QUOTE, e.g. BTC/USD",
    )  # fmt: skip
    base_asset = normalise_assets(pc.if_else(well_formed, pc.list_element(halves, 0), ""), aliases)
    quote = normalise_assets(pc.if_else(well_formed, pc.list_element(halves, 1), ""), aliases)
    return {
        "account": base.required_text(_text(table, "account"), rows, "account", errors),
        "trade_id": base.required_text(_text(table, "trade_id"), rows, "trade_id", errors),
        "order_id": base.optional_text(_text(table, "order_id"), len(rows)),
        "exchange_trade_id": base.optional_text(_text(table, "exchange_trade_id"), len(rows)),
        "pair": pc.binary_join_element_wise(base_asset, quote, "/"),
        "base": base_asset,
        "quote": quote,
        "side": base.one_of(_text(table, "side"), rows, "side", {"buy", "sell"}, errors),
        "quantity": _positive(table, rows, "quantity", errors),
        "price": _positive(table, rows, "price", errors),
        "cost": _not_negative(_optional_decimal(table, rows, "cost", errors), rows, "cost", errors),
        "fee": _not_negative(
            base.decimals(_text(table, "fee"), rows, "fee", errors), rows, "fee", errors
        ),
        "fee_asset": _asset(table, rows, "fee_asset", errors, aliases),
        "executed_at": base.iso_times(_text(table, "executed_at"), rows, "executed_at", errors),
    }


# A booked trade moves a positive quantity at a positive price; its side says the direction.
NOT_POSITIVE = r"^(-|\+?0*(\.0*)?$)"


def _positive(table, rows, name, errors):
    values = base.decimals(_text(table, name), rows, name, errors)
    not_positive = pc.fill_null(pc.match_substring_regex(values, NOT_POSITIVE), False)
    errors.add_mask(not_positive, rows, values, name, f"the {name} must be greater than zero")
    return values


def _not_negative(values, rows, name, errors):
    """A fee (or cost) is charged, never paid out: a rebate is a ledger entry of its own."""
    if values is None:
        return None
    negative = pc.fill_null(pc.match_substring_regex(values, r"^-0*[1-9]|^-0*\.0*[1-9]"), False)
    errors.add_mask(negative, rows, values, name, f"the {name} cannot be negative")
    return values


def _optional_decimal(table, rows, name, errors):
    values = _text(table, name)
    if values is None:
        return None
    return base.decimals(values, rows, name, errors, required=False)


def _ledger(table, rows, errors, aliases):
    return {
        "account": base.required_text(_text(table, "account"), rows, "account", errors),
        "entry_id": base.required_text(_text(table, "entry_id"), rows, "entry_id", errors),
        "reference": base.optional_text(_text(table, "reference"), len(rows)),
        "asset": _asset(table, rows, "asset", errors, aliases),
        "wallet": base.optional_text(_text(table, "wallet"), len(rows)),
        "amount": base.decimals(_text(table, "amount"), rows, "amount", errors),
        "fee": base.decimals(_text(table, "fee"), rows, "fee", errors),
        "balance": _optional_decimal(table, rows, "balance", errors),
        "type": pc.utf8_lower(base.required_text(_text(table, "type"), rows, "type", errors)),
        "subtype": base.optional_text(_text(table, "subtype"), len(rows)),
        "occurred_at": base.iso_times(_text(table, "occurred_at"), rows, "occurred_at", errors),
    }


def _margin(table, rows, errors, aliases):
    return {
        "account": base.required_text(_text(table, "account"), rows, "account", errors),
        "asset": _asset(table, rows, "asset", errors, aliases),
        "collateral": base.decimals(_text(table, "collateral"), rows, "collateral", errors),
        "used_margin": base.decimals(_text(table, "used_margin"), rows, "used_margin", errors),
        "open_position": _optional_decimal(table, rows, "open_position", errors),
        "as_of": base.iso_times(_text(table, "as_of"), rows, "as_of", errors),
    }


def _prices(table, rows, errors, aliases):
    price = base.decimals(_text(table, "price"), rows, "price", errors)
    not_positive = pc.fill_null(pc.match_substring_regex(price, NOT_POSITIVE), False)
    errors.add_mask(not_positive, rows, price, "price", "a price must be greater than zero")
    return {
        "asset": _asset(table, rows, "asset", errors, aliases),
        "quote": _asset(table, rows, "quote", errors, aliases),
        "price": price,
        "as_of": base.iso_times(_text(table, "as_of"), rows, "as_of", errors),
        "price_source": base.required_text(_text(table, "source"), rows, "source", errors),
    }


def _pnl(table, rows, errors, aliases):
    start = base.iso_times(_text(table, "period_start"), rows, "period_start", errors)
    # A period still running (month or year to date) ends in the future.
    end = base.iso_times(_text(table, "period_end"), rows, "period_end", errors, ahead=PERIOD_AHEAD)
    backwards = pc.fill_null(pc.greater_equal(start, end), False)
    errors.add_mask(
        backwards, rows, _text(table, "period_end"), "period_end",
        "must be after period_start (a period is [start, end))",
    )  # fmt: skip
    return {
        "account": base.required_text(_text(table, "account"), rows, "account", errors),
        "asset": _asset(table, rows, "asset", errors, aliases),
        "realised_pnl": base.decimals(_text(table, "realised_pnl"), rows, "realised_pnl", errors),
        "currency": _asset(table, rows, "currency", errors, aliases),
        "period_start": start,
        "period_end": end,
    }


_COLUMN_PARSERS = {
    "balances": _balances,
    "trades": _trades,
    "ledger": _ledger,
    "margin": _margin,
    "prices": _prices,
    "pnl": _pnl,
}
