"""Coinbase transaction history CSV (layouts C1-C5) as ledger rows (no Django here).

The file has no balance column and no cash rows: a Buy of BTC only says what it cost in the
price currency. So, besides one ledger row per CSV row, every Buy/Sell (and Advanced Trade
Buy/Sell) also yields its implied cash leg in the price currency (`<entry_id>-cash`, subtype
`cash`, amount -Total for buys and +Total for sells, fee 0; the same row number, leg 1), so
that per-asset sums of `amount` are the account's net change (/work/shared/EXCHANGE-FORMATS.md
section 4).

Fees: "Fees and/or Spread" is in the price currency (USD for a BTC row) and is already inside
Total and, for a Convert, inside the received quantity. The canonical `fee` is the fee charged in
the row's own asset on top of `amount` (Kraken: balance = previous + amount - fee), so here it is
always 0, and the reported fee goes to `extra` as `fee` (a plain positive decimal) and
`fee_currency`. Both Σ amount and Σ (amount - fee) per asset are then the net change.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from .assets import malformed_assets, normalise_assets
from .base import (
    FileRejected,
    Parsed,
    RowErrors,
    blank,
    canonical_table,
    checked_as_written,
    decimals,
    extra_json,
    iso_times,
    optional_text,
    required_text,
    strip,
)
from .reading import asset_codes, column, expect_text, read_export, refuse_missing

BUY_TYPES = {"buy", "advanced trade buy", "advance trade buy"}
SELL_TYPES = {"sell", "advanced trade sell", "advance trade sell"}
# Types whose quantity leaves the Coinbase account (before C4 quantities carry no sign).
OUTFLOW_TYPES = {
    *SELL_TYPES, "send", "withdrawal", "card spend", "admin debit", "donation",
    "exchange deposit", "pro deposit", "retail mgx dex send",
}  # fmt: skip

HEADER_START = re.compile(r'^\s*"?(ID"?\s*,\s*"?Timestamp|Timestamp"?\s*,)', re.IGNORECASE)

# canonical role -> (exact lower-cased names, regex for C1's "<CCY> ..." names)
ROLES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "id": (("id",), None),
    "timestamp": (("timestamp",), None),
    "type": (("transaction type",), None),
    "asset": (("asset",), None),
    "quantity": (("quantity transacted",), None),
    "price_currency": (("price currency", "spot price currency"), None),
    "price": (
        ("price at transaction", "spot price at transaction"),
        r"[a-z]{3} spot price at transaction",
    ),
    "subtotal": (("subtotal",), r"[a-z]{3} subtotal"),
    "total": (
        ("total (inclusive of fees and/or spread)", "total (inclusive of fees)"),
        r"[a-z]{3} total \(inclusive of fees.*\)",
    ),
    "fees": (("fees and/or spread", "fees"), r"[a-z]{3} fees( and/or spread)?"),
    "notes": (("notes",), None),
}  # fmt: skip
REQUIRED_ROLES = {
    "timestamp": "Timestamp",
    "type": "Transaction Type",
    "asset": "Asset",
    "quantity": "Quantity Transacted",
    "total": "Total (inclusive of fees and/or spread)",
    "fees": "Fees and/or Spread",
}

MONEY_SYMBOLS = r"[$€£¥\s]"


def find_header_line(data: bytes) -> int:
    """The 0-based line holding the header: the first starting `ID,Timestamp` or `Timestamp,`."""
    for index, line in enumerate(data.decode("utf-8").split("\n")):
        if HEADER_START.match(line):
            return index
    raise FileRejected(
        "This is not a Coinbase transaction history: no header line starting with "
        "'ID,Timestamp' or 'Timestamp,' was found."
    )


def _roles(names: list[str]) -> tuple[dict[str, str], str]:
    """role -> column name as written, and the price currency named in a C1 header ('' if none)."""
    lowered = {name.lower(): name for name in names}
    found: dict[str, str] = {}
    header_currency = ""
    for role, (exact, pattern) in ROLES.items():
        for candidate in exact:
            if candidate in lowered:
                found[role] = lowered[candidate]
                break
        else:
            if pattern:
                for low, name in lowered.items():
                    if re.fullmatch(pattern, low):
                        found[role] = name
                        header_currency = header_currency or name[:3].upper()
                        break
    return found, header_currency


def money(values: pa.Array) -> pa.Array:
    """`-$4.41` -> `-4.41`, `€3,343.11` -> `3,343.11`: currency symbols out (then grouping
    commas are read, or refused where ambiguous, by decimals(grouping=True))."""
    return pc.replace_substring_regex(strip(values), MONEY_SYMBOLS, "")


def unsigned(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(values, r"^[+-]", "")


def negated(values: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar("-"), unsigned(values), "")


def parse_transactions(data: bytes, *, aliases: dict[str, str]) -> Parsed:
    """A Coinbase transaction history (C1-C5, any preamble, CRLF or LF) as ledger rows."""
    header_line = find_header_line(expect_text(data, "a Coinbase transaction history CSV"))
    table, rows = read_export(data, "a Coinbase transaction history CSV", header_line=header_line)
    roles, header_currency = _roles(table.column_names)
    missing = [label for role, label in REQUIRED_ROLES.items() if role not in roles]
    if "price_currency" not in roles and not header_currency:
        missing.append("Price Currency")
    refuse_missing("a Coinbase transaction history", missing, table.column_names)

    def raw(role: str) -> pa.Array:
        return column(table, roles[role])

    errors = RowErrors()
    length = table.num_rows
    kind = pc.utf8_lower(required_text(raw("type"), rows, roles["type"], errors))
    asset = asset_codes(raw("asset"), rows, roles["asset"], aliases, errors)
    stamps = raw("timestamp")
    occurred_at = checked_as_written(
        iso_times, stamps, rows, roles["timestamp"], errors,
        pc.replace_substring_regex(strip(stamps), r"\s*UTC$", "Z"),
    )  # fmt: skip

    def amounts(role: str, *, required: bool) -> pa.Array:
        """A money column: symbols out, grouping read or refused, errors as written."""
        return checked_as_written(
            decimals, raw(role), rows, roles[role], errors, money(raw(role)),
            required=required, grouping=True,
        )  # fmt: skip

    quantity = amounts("quantity", required=True)
    # The fee is reported, in the price currency: into extra.
    fee = pc.fill_null(unsigned(amounts("fees", required=False)), "0")
    total = amounts("total", required=False)

    if "price_currency" in roles:
        currency_raw = raw("price_currency")
    else:
        currency_raw = pa.array([header_currency] * length, pa.string())
    is_buy = pc.is_in(kind, pa.array(sorted(BUY_TYPES)))
    is_sell = pc.is_in(kind, pa.array(sorted(SELL_TYPES)))
    trade = pc.or_(is_buy, is_sell)
    errors.add_mask(
        pc.and_(trade, pc.is_null(total)), rows, raw("total"), roles["total"],
        "a number is required on a buy or a sell (it gives the cash side)",
    )  # fmt: skip
    currency_name = roles.get("price_currency", "Price Currency")
    errors.add_mask(
        pc.and_(trade, blank(currency_raw)), rows, currency_raw, currency_name,
        "a price currency is required on a buy or a sell",
    )  # fmt: skip
    cash_asset = normalise_assets(strip(currency_raw), aliases)
    errors.add_mask(
        pc.and_(pc.and_(trade, malformed_assets(cash_asset)), pc.invert(blank(currency_raw))),
        rows, currency_raw, currency_name, "not a valid asset code",
    )  # fmt: skip
    if "id" in roles:
        required_text(raw("id"), rows, roles["id"], errors)
    if errors:
        return Parsed("ledger", None, errors)

    ids = _entry_ids(table, roles, occurred_at, asset, kind)
    entry_id = pa.array([entry for entry, _, _ in ids], pa.string())
    reference = pa.array([base for _, base, _ in ids], pa.string())
    repeated = pa.array([suffixed for _, _, suffixed in ids], pa.bool_())
    single_convert = pc.and_(pc.equal(kind, "convert"), pc.invert(repeated))
    outflow = pc.or_(pc.is_in(kind, pa.array(sorted(OUTFLOW_TYPES))), single_convert)
    amount = pc.if_else(outflow, negated(quantity), quantity)

    mapped = {roles[r] for r in ("id", "timestamp", "type", "asset", "quantity") if r in roles}
    extra_table = table
    if "price_currency" not in roles:
        extra_table = extra_table.append_column("Price Currency", currency_raw)
    others = [name for name in extra_table.column_names if name not in mapped]
    extra_table = extra_table.append_column("fee", fee).append_column(
        "fee_currency", pc.utf8_upper(strip(currency_raw))
    )
    extra = extra_json(extra_table, [*others, "fee", "fee_currency"])
    zero = pa.array(["0"] * length, pa.string())
    main = canonical_table(
        "ledger",
        {
            "row_number": rows,
            "entry_id": entry_id,
            "reference": reference,
            "asset": asset,
            "amount": amount,
            "fee": zero,
            "type": kind,
            "occurred_at": occurred_at,
            "extra": extra,
        },
    )

    cash_amount = pc.if_else(is_buy, negated(pc.fill_null(total, "0")), unsigned(total))
    legs = canonical_table(
        "ledger",
        {
            "row_number": rows,
            "leg": pa.repeat(pa.scalar(1, pa.int64()), length),  # the row's second movement
            "entry_id": pc.binary_join_element_wise(entry_id, pa.scalar("-cash"), ""),
            "reference": reference,
            "asset": cash_asset,
            "amount": cash_amount,
            "fee": zero,
            "type": kind,
            "subtype": pa.array(["cash"] * length, pa.string()),
            "occurred_at": occurred_at,
            "extra": extra,
        },
    ).filter(trade)
    combined = pa.concat_tables([main, legs])
    order = pc.sort_indices(combined, sort_keys=[("row_number", "ascending"), ("leg", "ascending")])
    return Parsed("ledger", combined.take(order).combine_chunks(), errors)


def _entry_ids(table, roles, occurred_at, asset, kind) -> list[tuple[str, str, bool]]:
    """(entry id, ID, whether the ID repeats): the ID, or `<ID>-1`, `<ID>-2` … on its rows.

    Layouts before C4 have no ID; the id is then `<time>-<asset>-<type>`.
    """
    if "id" in roles:
        bases = optional_text(column(table, roles["id"]), table.num_rows).to_pylist()
    else:
        seconds = pc.cast(occurred_at, pa.timestamp("s", tz="UTC"), safe=False)
        times = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
        bases = [
            f"{time}-{code}-{text.replace(' ', '-')}"
            for time, code, text in zip(times, asset.to_pylist(), kind.to_pylist(), strict=True)
        ]
    counts: dict[str, int] = {}
    for base in bases:
        counts[base] = counts.get(base, 0) + 1
    seen: dict[str, int] = {}
    result = []
    for base in bases:
        if counts[base] > 1:
            seen[base] = seen.get(base, 0) + 1
            result.append((f"{base}-{seen[base]}", base, True))
        else:
            result.append((base, base, False))
    return result
