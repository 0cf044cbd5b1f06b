"""Binance transaction history ("statement") CSV, layouts S1-S3, as ledger rows (no Django here).

One CSV row is one balance change of one coin in one Binance account (wallet), already signed:
a spot trade is three rows (`Transaction Buy` +, `Transaction Spend` -, `Transaction Fee` -;
before 2022 `Buy`/`Sell`/`Fee` or `Transaction Related`). So every row becomes one ledger entry:
`amount` = Change as written, `fee` 0 (a fee is a row of its own, of type `fee`), no balance
(Binance writes none: balances are the sums), `wallet` = Account, `subtype` = Operation as
written and `type` its category (deposit, withdrawal, trade, fee, ...), see binance_operations.
/work/shared/EXCHANGE-FORMATS.md section 5.2 lists the layouts:

* S1 `UTC_Time,Account,Operation,Coin,Change,Remark`
* S2 `User_ID,UTC_Time,Account,Operation,Coin,Change,Remark` (quoted or not)
* S3 (2025+) `User ID,Time,Account,Operation,Coin,Change,Remark` with a UTF-8 BOM, times with a
  two-digit year (`25-03-01 10:00:00`) in the time zone the file name names (`…(UTC+1)…`), as
  the spot trade history's `Time`; without one they are taken as UTC and the dataset notes it.

Remark may be missing from the header, or from the end of rows that have none; a Change that
went through a spreadsheet (`-3.605E-05`) is turned into plain digits exactly; the single row
`No data matches the criteria.` of an empty export is skipped.

Binance gives no row id, and identical rows are legitimate (fills of one order in one second,
each with its own Fee row of the same size). The entry id is
`<UTC time>-<coin>-<digest of the row's content>-<n>`, n counting identical rows in file order:
the same history exported again, in either order, newest or oldest first, in the 2021 or the 2025
layout, gives the same ids, and no two rows of a file share one. `reference` is the UTC time
(the rows of one moment: a trade's legs, both sides of a transfer).
"""

from __future__ import annotations

import csv
import hashlib
import re
from decimal import Decimal, InvalidOperation

import pyarrow as pa
import pyarrow.compute as pc

from .base import (
    TEXT_LENGTHS,
    FileRejected,
    Parsed,
    RowErrors,
    canonical_table,
    checked_as_written,
    decimals,
    extra_json,
    optional_text,
    required_text,
    strip,
    too_long,
)
from .binance import local_times
from .binance_operations import category
from .reading import (
    asset_codes,
    column,
    expect_text,
    has_control_characters,
    read_export,
    refuse_missing,
)

WHAT = "a Binance transaction history (statement) CSV"
NO_DATA = re.compile(rb'^[ \t]*"?No data matches the criteria\.?"?[ \t,]*\r?$', re.M | re.I)
EXPONENT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]{1,3}$"

# Header names (lower-cased, spaces and dashes as `_`) -> role.
ROLES = {
    "user_id": "user",
    "userid": "user",
    "utc_time": "utc_time",
    "time": "time",
    "account": "account",
    "operation": "operation",
    "coin": "coin",
    "change": "change",
    "remark": "remark",
}
REQUIRED = {
    "account": "Account",
    "operation": "Operation",
    "coin": "Coin",
    "change": "Change",
}


def _roles(names: list[str]) -> dict[str, str]:
    """role -> the column's name as written."""
    found: dict[str, str] = {}
    for name in names:
        role = ROLES.get(re.sub(r"[\s-]+", "_", name.strip().lower()))
        if role is None:
            continue
        if role in found:
            raise FileRejected(f"The header names the {role} twice: {found[role]}, {name}.")
        found[role] = name
    if "utc_time" in found and "time" in found:
        raise FileRejected(
            f"The header has both {found['utc_time']} and {found['time']}: which is the time?"
        )
    return found


def _skip_no_data_rows(data: bytes, notes: dict) -> bytes:
    """Blank the `No data matches the criteria.` rows (blank lines keep the line numbers)."""
    if re.search(rb"(?i)no data matches", data) is None:
        return data
    data, count = NO_DATA.subn(b"", data)
    if count:
        notes["no_data_rows_skipped"] = count
        if not data.partition(b"\n")[2].strip():
            raise FileRejected(
                "The statement has no rows: Binance wrote 'No data matches the criteria.' "
                "Export a time range that has transactions."
            )
    return data


def _read(data: bytes, notes: dict) -> tuple[pa.Table, pa.Array]:
    """The CSV as text columns; rows that end before an empty Remark get it back."""
    try:
        return read_export(data, WHAT)
    except FileRejected as exc:
        found = re.search(r"has ([0-9]+) fields, the header has ([0-9]+)", exc.reason)
        if not found or int(found.group(1)) != int(found.group(2)) - 1:
            raise
        if _last_header_name(data) != "remark":
            raise
        padded, count = _pad_missing_remarks(data, int(found.group(2)))
        notes["rows_without_remark_field"] = count
        return read_export(padded, WHAT)


def _last_header_name(data: bytes) -> str:
    first = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    try:
        names = next(csv.reader([first]), [])
    except csv.Error:
        return ""
    return names[-1].strip().lower() if names else ""


def _pad_missing_remarks(data: bytes, width: int) -> tuple[bytes, int]:
    """Add the empty last field to rows one field short (runs only when a file has such rows)."""
    lines = data.split(b"\n")
    count = 0
    for index in range(1, len(lines)):
        line = lines[index]
        body = line[:-1] if line.endswith(b"\r") else line
        if not body.strip():
            continue
        try:
            fields = next(csv.reader([body.decode("utf-8", errors="replace")]), [])
        except csv.Error:
            continue  # left as it is: the second reading reports the line
        if len(fields) == width - 1:
            lines[index] = body + b"," + line[len(body) :]
            count += 1
    return b"\n".join(lines), count


def parse_statement(data: bytes, *, aliases: dict[str, str], filename: str = "") -> Parsed:
    """A Binance transaction history (S1-S3) as canonical ledger rows, one per CSV row."""
    notes: dict = {}
    data = _skip_no_data_rows(expect_text(data, WHAT), notes)
    table, rows = _read(data, notes)  # expect_text made lone CRs line ends
    roles = _roles(table.column_names)
    missing = [label for role, label in REQUIRED.items() if role not in roles]
    if "utc_time" not in roles and "time" not in roles:
        missing.insert(0, "UTC_Time (or Time)")
    refuse_missing("a Binance transaction history (statement)", missing, table.column_names)

    def raw(role: str) -> pa.Array:
        return column(table, roles[role])

    errors = RowErrors()
    time_role = "utc_time" if "utc_time" in roles else "time"
    occurred_at = local_times(
        raw(time_role), rows, roles[time_role], errors,
        local=time_role == "time", filename=filename, notes=notes,
    )  # fmt: skip
    wallet = required_text(raw("account"), rows, roles["account"], errors)
    operation = required_text(raw("operation"), rows, roles["operation"], errors)
    asset = asset_codes(raw("coin"), rows, roles["coin"], aliases, errors)
    amount = _changes(raw("change"), rows, roles["change"], errors, notes)
    # Control characters: required_text; the operation's length: cut below, kept in extra.
    too_long(wallet, rows, roles["account"], errors, stored_as="wallet")
    if "user" in roles:
        _one_user(optional_text(raw("user"), table.num_rows), rows, roles["user"], errors)
    if errors:
        return Parsed("ledger", None, errors, notes)

    remark = optional_text(raw("remark") if "remark" in roles else None, table.num_rows)
    stamps = _stamps(occurred_at)
    entry_id = _entry_ids(stamps, occurred_at, wallet, operation, asset, amount, remark)
    subtype, long_operation = _subtypes(operation)
    mapped = {roles[r] for r in ("utc_time", "time", "account", "operation", "coin", "change")
              if r in roles}  # fmt: skip
    others = [name for name in table.column_names if name not in mapped]
    extra_table = table.append_column("Operation (in full)", long_operation)
    others.append("Operation (in full)")
    if "utc_offset" in notes:  # the time as the file wrote it, beside the UTC one stored
        extra_table = extra_table.append_column(f"{roles['time']} (as written)", raw("time"))
        others.append(f"{roles['time']} (as written)")
    extra = extra_json(extra_table, others, controls=has_control_characters(data))
    length = table.num_rows
    result = canonical_table(
        "ledger",
        {
            "row_number": rows,
            "entry_id": entry_id,
            "reference": stamps,
            "asset": asset,
            "wallet": wallet,
            "amount": amount,
            "fee": pa.array(["0"] * length, pa.string()),
            "type": _types(operation),
            "subtype": subtype,
            "occurred_at": occurred_at,
            "extra": extra,
        },
    )
    return Parsed("ledger", result, errors, notes)


# --- Columns ------------------------------------------------------------------------------------


def _changes(values, rows, name, errors, notes) -> pa.Array:
    """Signed plain decimals; an exponent (`-3.605E-05`, from a spreadsheet) written out exactly."""
    cleaned = strip(values.cast(pa.string()))
    exponent = pc.fill_null(pc.match_substring_regex(cleaned, EXPONENT), False)
    if pc.any(exponent).as_py():
        texts = cleaned.to_pylist()
        for at in pc.indices_nonzero(exponent).to_pylist():
            texts[at] = _plain(texts[at])
        cleaned = pa.array(texts, pa.string())
        notes["exponent_values_written_out"] = pc.sum(exponent).as_py()
    return checked_as_written(decimals, values, rows, name, errors, cleaned)


def _plain(text: str) -> str:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return "0" if number == 0 else format(number, "f")


def _one_user(users: pa.Array, rows: pa.Array, name: str, errors: RowErrors) -> None:
    """A statement is one Binance user's: rows of another user are refused, row by row."""
    filled = pc.filter(users, pc.greater(pc.utf8_length(users), 0))
    if pc.count_distinct(filled).as_py() <= 1:
        return
    first = filled[0].as_py()
    first_row = pc.filter(rows, pc.equal(users, first))[0].as_py()
    other = pc.and_(pc.greater(pc.utf8_length(users), 0), pc.not_equal(users, first))
    errors.add_mask(
        other, rows, users, name,
        f"another Binance user than row {first_row}'s ({first}): load one user's statement "
        "into one account",
    )  # fmt: skip


def _stamps(times: pa.Array) -> pa.Array:
    seconds = pc.cast(times, pa.timestamp("s", tz="UTC"), safe=False)
    return pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")


def _entry_ids(stamps, times, wallet, operation, asset, amount, remark) -> pa.Array:
    """`<time>-<coin>-<digest>-<n>`: the same row gets the same id in any export of it."""
    micros = pc.cast(times, pa.int64()).to_pylist()
    counts: dict[str, int] = {}
    ids = []
    for stamp, moment, *content in zip(
        stamps.to_pylist(), micros, wallet.to_pylist(), operation.to_pylist(),
        asset.to_pylist(), amount.to_pylist(), remark.to_pylist(), strict=True,
    ):  # fmt: skip
        place, action, coin, change, note = content
        key = "\x1f".join([str(moment), place, " ".join(action.split()), coin,
                           _canonical(change), note])  # fmt: skip
        digest = hashlib.blake2b(key.encode(), digest_size=5).hexdigest()
        counts[digest] = counts.get(digest, 0) + 1
        ids.append(f"{stamp}-{coin}-{digest}-{counts[digest]}")
    return pa.array(ids, pa.string())


def _canonical(change: str) -> str:
    """`-0.10000000` and `-0.1` are one change (2021 exports pad, 2025 ones do not)."""
    number = Decimal(change)
    return "0" if number == 0 else format(number.normalize(), "f")


def _types(operation: pa.Array) -> pa.Array:
    distinct = pc.unique(operation)
    kinds = pa.array([category(name) for name in distinct.to_pylist()], pa.string())
    return pc.take(kinds, pc.index_in(operation, distinct))


def _subtypes(operation: pa.Array) -> tuple[pa.Array, pa.Array]:
    """The operation as written, cut to the column's width (then kept in full in `extra`)."""
    limit = TEXT_LENGTHS["subtype"]
    long = pc.greater(pc.utf8_length(operation), limit)
    cut = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(operation, 0, limit - 1), pa.scalar("…"), ""
    )
    subtype = pc.if_else(long, cut, operation)
    in_full = pc.if_else(long, operation, pa.scalar("", pa.string()))
    return subtype, in_full
