"""What every importer produces, and the vectorised checks they share (no Django here).

An importer turns the bytes of one file (or one API answer) into a `Parsed`: an Arrow table
with the canonical columns of its kind (`COLUMNS`), plus the row errors found. Numbers stay
exact: decimal columns hold plain decimal strings (validated, at most 20 integer and 18
fractional digits, so they fit NUMERIC(38, 18)); times are `timestamp[us, UTC]`.

Row numbers are what a person sees in a spreadsheet: the line of the file, counting the header
and any preamble (CSV, XLSX), or the 1-based position in a JSON array.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

MAX_ERRORS_LISTED = 100

DECIMAL_PATTERN = r"^[+-]?[0-9]{1,20}(\.[0-9]{1,18})?$"
# `.5` and `5.` are exact decimals too; they are written out as `0.5` and `5` before checking.
BARE_POINT = r"^[+-]?(\.[0-9]+|[0-9]+\.)$"
# Digits with at most one point: a number, refused only for its length.
DECIMAL_LIKE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
# Thousands separators that cannot be anything else: groups of three after a first group of one
# to three digits not led by 0, with a decimal point after them, or two groups or more.
# `1,234` (1234 or 1.234?) and `0,2830` (a decimal comma) are not (docs/formats.md).
UNAMBIGUOUS_GROUPING = (
    r"^[+-]?[1-9][0-9]{0,2}(,[0-9]{3})+\.[0-9]*$|^[+-]?[1-9][0-9]{0,2}(,[0-9]{3}){2,}$"
)
# Characters no id, code or name has a use for (C0 controls, DEL, C1 controls). PostgreSQL
# text cannot hold NUL at all.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f]"
ISO_WITH_OFFSET = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
)
NAIVE_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?$"

TIME = pa.timestamp("us", tz="UTC")
# Plausible times: none before Bitcoin's first block, none more than a day ahead of now (clocks
# and time zones differ; a later time is a typo or a wrong year). docs/formats.md states it.
EARLIEST = datetime(2009, 1, 3, tzinfo=UTC)
AHEAD = timedelta(days=1)

# The canonical columns of each kind, in order, and their Arrow types ("decimal" = str).
# A ledger row may stand for more than one movement: `leg` numbers its records (0 = its own).
COLUMNS: dict[str, dict[str, str]] = {
    "balances": {
        "row_number": "int", "account": "str", "asset": "str", "wallet": "str",
        "quantity": "decimal", "as_of": "time", "extra": "json",
    },
    "trades": {
        "row_number": "int", "account": "str", "trade_id": "str", "order_id": "str",
        "exchange_trade_id": "str", "pair": "str", "base": "str", "quote": "str",
        "side": "str", "quantity": "decimal", "price": "decimal", "cost": "decimal?",
        "fee": "decimal", "fee_asset": "str", "executed_at": "time", "extra": "json",
    },
    "ledger": {
        "row_number": "int", "leg": "int", "account": "str", "entry_id": "str", "reference": "str",
        "asset": "str", "wallet": "str", "amount": "decimal", "fee": "decimal",
        "balance": "decimal?", "type": "str", "subtype": "str", "occurred_at": "time",
        "extra": "json",
    },
    "prices": {
        "row_number": "int", "asset": "str", "quote": "str", "price": "decimal",
        "as_of": "time", "price_source": "str", "extra": "json",
    },
    "margin": {
        "row_number": "int", "account": "str", "asset": "str", "collateral": "decimal",
        "used_margin": "decimal", "open_position": "decimal?", "as_of": "time",
        "extra": "json",
    },
    "pnl": {
        "row_number": "int", "account": "str", "asset": "str", "realised_pnl": "decimal",
        "currency": "str", "period_start": "time", "period_end": "time", "extra": "json",
    },
}  # fmt: skip

KINDS = tuple(COLUMNS)

# The longest text each stored column holds (the record models' max_length; a test keeps the
# two the same). An asset code of assets.ASSET_CODE's shape can still be longer than 40.
TEXT_LENGTHS = {
    "account": 100, "trade_id": 100, "order_id": 100, "exchange_trade_id": 100,
    "entry_id": 100, "reference": 100, "wallet": 100, "price_source": 100,
    "type": 50, "subtype": 50, "side": 4,
    "asset": 40, "base": 40, "quote": 40, "fee_asset": 40, "currency": 40, "pair": 81,
}  # fmt: skip


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        column = f", column {self.column!r}" if self.column else ""
        value = f", value {self.value!r}" if self.value != "" else ""
        return f"{where}{column}{value}: {self.reason}"


@dataclass
class RowErrors:
    """Collects row errors: the first MAX_ERRORS_LISTED in row order, and how many in all."""

    listed: list[RowError] = field(default_factory=list)
    total: int = 0

    def add(self, row: int, column: str, value, reason: str) -> None:
        self.total += 1
        self.listed.append(RowError(row, column, "" if value is None else str(value), reason))

    def add_mask(self, mask, rows, values, column: str, reason: str) -> None:
        """Add one error for every row where `mask` is true (vectorised)."""
        mask = pc.fill_null(mask, False)
        count = pc.sum(mask).as_py() or 0
        if not count:
            return
        self.total += count
        picked_rows = pc.filter(rows, mask).slice(0, MAX_ERRORS_LISTED).to_pylist()
        picked_values = pc.filter(values, mask).slice(0, MAX_ERRORS_LISTED).to_pylist()
        for row, value in zip(picked_rows, picked_values, strict=True):
            self.listed.append(RowError(row, column, "" if value is None else str(value), reason))

    def __bool__(self) -> bool:
        return self.total > 0

    def first(self) -> list[RowError]:
        return sorted(self.listed, key=lambda e: (e.row, e.column))[:MAX_ERRORS_LISTED]


@dataclass
class Parsed:
    """An importer's result: canonical rows of one kind, or the errors that stop the load."""

    kind: str
    table: pa.Table | None
    errors: RowErrors
    notes: dict = field(default_factory=dict)  # e.g. {"skipped_pending_rows": 3}

    @property
    def ok(self) -> bool:
        return not self.errors and self.table is not None


class FileRejected(Exception):
    """The whole file is unusable (wrong format, encoding, columns); carries row errors."""

    def __init__(self, reason: str, errors: RowErrors | None = None):
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or RowErrors()


# --- Shared vectorised checks -------------------------------------------------------------------


def strip(array: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(array)


def blank(array: pa.Array) -> pa.Array:
    """True where the value is null or only whitespace."""
    return pc.fill_null(pc.equal(pc.utf8_length(strip(array)), 0), True)


def decimals(
    values: pa.Array,
    rows: pa.Array,
    column: str,
    errors: RowErrors,
    *,
    required: bool = True,
    grouping: bool = False,
) -> pa.Array:
    """Validate plain decimal strings; return them trimmed (null where blank and optional).

    With `grouping` (exports that write `1,234.56`), unambiguous thousands separators are
    removed and any other comma is a row error: never a guess at which number was meant.
    """
    values = strip(values.cast(pa.string()))
    empty = blank(values)
    if required:
        errors.add_mask(empty, rows, values, column, "a number is required")
    ok = pc.match_substring_regex(values, DECIMAL_PATTERN)
    bad = pc.and_(pc.invert(empty), pc.invert(pc.fill_null(ok, False)))
    if pc.any(bad).as_py():  # the rare path: only files with such values pay for it
        if grouping:
            values, bad = _without_grouping(values, bad)
        values, bad = _complete_bare_points(values, bad)
        if pc.any(bad).as_py():
            _explain_bad_decimals(values, rows, bad, column, errors, grouping=grouping)
    return pc.if_else(empty, pa.scalar(None, pa.string()), values)


def _complete_bare_points(values: pa.Array, bad: pa.Array) -> tuple[pa.Array, pa.Array]:
    """`.5` -> `0.5`, `-5.` -> `-5`: the same exact numbers, in the stored form."""
    bare = pc.and_(bad, pc.fill_null(pc.match_substring_regex(values, BARE_POINT), False))
    if not pc.any(bare).as_py():
        return values, bad
    written = pc.replace_substring_regex(values, r"^([+-]?)\.", r"\10.")  # RE2: \1, then 0.
    written = pc.replace_substring_regex(written, r"\.$", "")
    values = pc.if_else(bare, written, values)
    ok = pc.fill_null(pc.match_substring_regex(values, DECIMAL_PATTERN), False)
    return values, pc.and_(bad, pc.invert(ok))


def _without_grouping(values: pa.Array, bad: pa.Array) -> tuple[pa.Array, pa.Array]:
    """`1,234.56` -> `1234.56`, `1,234,567` -> `1234567`; every other comma stays (an error)."""
    grouped = pc.and_(
        bad, pc.fill_null(pc.match_substring_regex(values, UNAMBIGUOUS_GROUPING), False)
    )
    if not pc.any(grouped).as_py():
        return values, bad
    values = pc.if_else(grouped, pc.replace_substring(values, ",", ""), values)
    ok = pc.fill_null(pc.match_substring_regex(values, DECIMAL_PATTERN), False)
    return values, pc.and_(bad, pc.invert(ok))


def _explain_bad_decimals(values, rows, bad, column, errors: RowErrors, *, grouping=False) -> None:
    if grouping:  # what is left with a comma is ambiguous, not merely badly written
        comma = pc.and_(bad, pc.fill_null(pc.match_substring(values, ","), False))
        errors.add_mask(
            comma, rows, values, column,
            "the comma is ambiguous (a decimal comma, or a thousands separator?): write the "
            "number with a '.' decimal point and no separators, e.g. 0.283 or 1234",
        )  # fmt: skip
        bad = pc.and_(bad, pc.invert(comma))
    looks_numeric = pc.fill_null(pc.match_substring_regex(values, DECIMAL_LIKE), False)
    too_precise = pc.and_(bad, looks_numeric)
    errors.add_mask(
        too_precise, rows, values, column,
        "too many digits: at most 20 before and 18 after the decimal point",
    )  # fmt: skip
    errors.add_mask(
        pc.and_(bad, pc.invert(looks_numeric)), rows, values, column,
        "not a plain decimal number (use '.' as decimal point, no thousands separators, "
        "no exponent)",
    )  # fmt: skip


def checked_as_written(check, raw, rows: pa.Array, column: str, errors: RowErrors, *args, **kw):
    """`check(*args, rows, column, errors, **kw)` on cleaned values (an exporter's symbols,
    suffixes or two-digit years taken out), its errors showing the value as written (`raw`)."""
    local = RowErrors()
    result = check(*args, rows, column, local, **kw)
    if local.listed:
        written = raw.to_pylist() if isinstance(raw, pa.Array | pa.ChunkedArray) else raw
        # Row numbers skip blank lines, so a row's position is looked up, not computed.
        position = {row: index for index, row in enumerate(rows.to_pylist())}
        for error in local.listed:
            errors.add(error.row, error.column, written[position[error.row]], error.reason)
    errors.total += local.total - len(local.listed)
    return result


def _cast_times(values: pa.Array, target) -> tuple[pa.Array, pa.Array]:
    """Cast what can be cast; return (times, failed mask).

    One impossible date (2025-02-30) makes the whole cast fail, so the column is retried in
    blocks and only a failing block goes value by value.
    """
    try:
        return pc.cast(values, target), pa.array([False] * len(values))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    times, failed = [], []
    for start in range(0, len(values), 4096):
        block = values.slice(start, 4096)
        try:
            times.append(pc.cast(block, target))
            failed.append(pa.array([False] * len(block)))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            block_times, block_failed = _cast_one_by_one(block, target)
            times.append(block_times)
            failed.append(block_failed)
    return pa.concat_arrays(times), pa.concat_arrays(failed)


def _cast_one_by_one(values: pa.Array, target) -> tuple[pa.Array, pa.Array]:
    parsed, failed = [], []
    for value in values.to_pylist():
        try:
            parsed.append(pc.cast(pa.array([value], pa.string()), target)[0].as_py())
            failed.append(False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            parsed.append(None)
            failed.append(True)
    return pa.array(parsed, target), pa.array(failed)


def plausible_times(
    times: pa.Array, rows, values, column: str, errors: RowErrors, *, ahead: timedelta = AHEAD
) -> None:
    """An error where a time is before EARLIEST or more than `ahead` after now."""
    latest = datetime.now(UTC) + ahead
    early = pc.less(times, pa.scalar(EARLIEST, TIME))
    errors.add_mask(
        early, rows, values, column, "before 2009-01-03, earlier than any crypto-asset record"
    )
    late = pc.greater(times, pa.scalar(latest, TIME))
    errors.add_mask(
        late, rows, values, column,
        f"more than {_days(ahead)} in the future: check the year and the time zone",
    )  # fmt: skip


def _days(span: timedelta) -> str:
    return "a day" if span.days == 1 else f"{span.days} days"


def iso_times(
    values: pa.Array, rows: pa.Array, column: str, errors: RowErrors, *, ahead: timedelta = AHEAD
) -> pa.Array:
    """ISO 8601 times with an offset or Z (the generic format), as UTC."""
    values = strip(values.cast(pa.string()))
    empty = blank(values)
    errors.add_mask(empty, rows, values, column, "a time is required")
    shaped = pc.fill_null(pc.match_substring_regex(values, ISO_WITH_OFFSET), False)
    naive = pc.fill_null(pc.match_substring_regex(values, NAIVE_TIME), False)
    errors.add_mask(
        pc.and_(pc.invert(empty), naive), rows, values, column,
        "the time has no offset: add Z for UTC or an offset such as +01:00",
    )  # fmt: skip
    errors.add_mask(
        pc.and_(pc.and_(pc.invert(empty), pc.invert(naive)), pc.invert(shaped)), rows, values,
        column, "not an ISO 8601 time, e.g. 2026-01-31T23:59:59Z",
    )  # fmt: skip
    candidates = pc.if_else(shaped, values, pa.scalar(None, pa.string()))
    times, failed = _cast_times(candidates, TIME)
    errors.add_mask(failed, rows, values, column, "not a valid date or time")
    plausible_times(times, rows, values, column, errors, ahead=ahead)
    return times


def utc_times(values: pa.Array, rows: pa.Array, column: str, errors: RowErrors) -> pa.Array:
    """Exchange times written without an offset, which the exchange states are UTC."""
    values = strip(values.cast(pa.string()))
    empty = blank(values)
    errors.add_mask(empty, rows, values, column, "a time is required")
    shaped = pc.fill_null(pc.match_substring_regex(values, NAIVE_TIME), False)
    errors.add_mask(
        pc.and_(pc.invert(empty), pc.invert(shaped)), rows, values, column,
        "not a time of the form YYYY-MM-DD HH:MM:SS",
    )  # fmt: skip
    candidates = pc.if_else(shaped, values, pa.scalar(None, pa.string()))
    times, failed = _cast_times(candidates, pa.timestamp("us"))
    errors.add_mask(failed, rows, values, column, "not a valid date or time")
    times = pc.assume_timezone(times, "UTC")
    plausible_times(times, rows, values, column, errors)
    return times


def required_text(values: pa.Array, rows: pa.Array, column: str, errors: RowErrors) -> pa.Array:
    values = strip(values.cast(pa.string()))
    errors.add_mask(blank(values), rows, values, column, "a value is required")
    control_characters(values, rows, column, errors)
    return values


def control_characters(values: pa.Array, rows, column: str, errors: RowErrors) -> None:
    """An error where a text value holds a control character (NUL, tab, escape, DEL ...)."""
    if pc.all(pc.utf8_is_printable(pc.fill_null(values, ""))).as_py() is not False:
        return  # the usual case: one pass, no regex
    found = pc.match_substring_regex(values, CONTROL_CHARACTERS)
    errors.add_mask(
        found, rows, pc.replace_substring_regex(values, CONTROL_CHARACTERS, "\uFFFD"), column,
        "holds a control character (shown as \uFFFD): ids, codes and names are plain text",
    )  # fmt: skip


def too_long(
    values: pa.Array, rows, column: str, errors: RowErrors, *, stored_as: str = ""
) -> None:
    """An error where a text value is longer than its stored column (`stored_as`) holds."""
    limit = TEXT_LENGTHS[stored_as or column]
    longer = pc.greater(pc.utf8_length(pc.fill_null(values, "")), limit)
    if pc.any(longer).as_py():
        shown = pc.utf8_slice_codeunits(values, 0, 60)
        errors.add_mask(longer, rows, shown, column, f"longer than {limit} characters")


def plain_column_names(names: list[str]) -> None:
    """Refuse a header whose names hold control characters (they become keys of `extra`)."""
    odd = [name for name in names if re.search(CONTROL_CHARACTERS, name)]
    if odd:
        shown = ", ".join(repr(re.sub(CONTROL_CHARACTERS, "\ufffd", name)[:60]) for name in odd)
        raise FileRejected(f"The header has column names with control characters: {shown}.")


def refuse_unstorable_text(parsed: Parsed) -> Parsed:
    """The parsed table's text columns checked as they will be stored (every format).

    One check for all importers, so no format can carry a NUL into COPY (PostgreSQL text cannot
    hold it), a terminal escape into a page or an export, or a value longer than its column.
    """
    if parsed.table is None:
        return parsed
    errors = parsed.errors
    rows = parsed.table["row_number"]
    for name, kind_of in COLUMNS[parsed.kind].items():
        if kind_of == "str":
            values = parsed.table[name]
            values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
            control_characters(values, rows, name, errors)
            too_long(values, rows, name, errors)
    if errors:
        return Parsed(parsed.kind, None, errors, parsed.notes)
    return parsed


def optional_text(values: pa.Array | None, length: int) -> pa.Array:
    if values is None:
        return pa.array([""] * length, pa.string())
    return pc.fill_null(strip(values.cast(pa.string())), "")


def one_of(values: pa.Array, rows, column: str, allowed: set[str], errors: RowErrors):
    """Lower-cased values, with an error where one is not in `allowed`."""
    lowered = pc.utf8_lower(strip(values.cast(pa.string())))
    ok = pc.fill_null(pc.is_in(lowered, pa.array(sorted(allowed))), False)
    errors.add_mask(
        pc.invert(ok), rows, values, column, f"must be one of {', '.join(sorted(allowed))}"
    )
    return lowered


def duplicates(keys: pa.Array, rows: pa.Array, column: str, errors: RowErrors) -> None:
    """An error on every row whose key appeared on an earlier row."""
    if pc.count_distinct(keys).as_py() == len(keys):
        return  # the usual case: one hash pass instead of three
    table = pa.table({"key": keys, "row": rows})
    firsts = table.group_by("key", use_threads=False).aggregate([("row", "min")])
    first_row = pc.take(firsts["row_min"], pc.index_in(keys, firsts["key"]))
    repeated = pc.and_(pc.not_equal(rows, first_row), pc.invert(blank(keys)))
    if pc.any(repeated).as_py():
        rows_list, keys_list = rows.to_pylist(), keys.to_pylist()
        firsts_list = first_row.to_pylist()
        for row, key, first in zip(rows_list, keys_list, firsts_list, strict=True):
            if row != first and key not in (None, ""):
                errors.add(row, column, key, f"duplicate of row {first}")


def _column(table: pa.Table, name: str) -> pa.Array:
    values = table[name]
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def extra_json(table: pa.Table, columns: list[str], *, controls: bool = True) -> pa.Array:
    """The non-empty `columns` of each row as a JSON object of strings (kept, not interpreted).

    Escaping runs only on columns holding a quote, a backslash or (when `controls` says the
    file has any) a control character. An empty value becomes a null `,"name":"value"` segment,
    marked null through its validity bitmap (no copy), so one join skips it. When the first
    column is never empty its segment has no comma and nothing is left to fix. (Arrow 26 drops
    rows whose parts are all null under `null_handling="skip"`, so the non-null "{" and "}"
    parts stay in that join.)
    """
    segments: list = []
    leading_comma = False
    for name in columns:
        values = pc.fill_null(_column(table, name).cast(pa.string()), "")
        if (
            pc.any(pc.match_substring(values, '"')).as_py()
            or pc.any(pc.match_substring(values, "\\")).as_py()
            or (controls and not pc.all(pc.utf8_is_printable(values)).as_py())
        ):
            values = pc.replace_substring(values, "\\", "\\\\")
            values = pc.replace_substring(values, '"', '\\"')
            values = pc.replace_substring_regex(values, r"[\x00-\x1f]", " ")
        filled = pc.greater(pc.utf8_length(values), 0)
        if not pc.any(filled).as_py():
            continue
        always = pc.all(filled).as_py()
        if not always:
            if values.offset == 0 and filled.offset == 0 and values.null_count == 0:
                values = pa.StringArray.from_buffers(
                    len(values), values.buffers()[1], values.buffers()[2], filled.buffers()[1]
                )
            else:
                values = pc.if_else(filled, values, pa.scalar(None, pa.string()))
        first = not segments
        leading_comma = leading_comma or (first and not always)
        comma = "" if first and always else ","
        prefix = pa.scalar(comma + json.dumps(name) + ':"')
        segments.append(pc.binary_join_element_wise(prefix, values, pa.scalar('"'), ""))
    if not segments:
        return pa.array(["{}"] * table.num_rows, pa.string())
    if not leading_comma:
        return pc.binary_join_element_wise(
            pa.scalar("{"), *segments, pa.scalar("}"), "", null_handling="skip"
        )
    inner = pc.binary_join_element_wise(*segments, pa.scalar(""), "", null_handling="skip")
    return pc.binary_join_element_wise(
        pa.scalar("{"), pc.utf8_slice_codeunits(inner, 1), pa.scalar("}"), ""
    )


def canonical_table(kind: str, columns: dict[str, pa.Array]) -> pa.Table:
    """The canonical table of `kind` from named arrays; missing text columns become '', a
    missing leg 0."""
    length = len(columns["row_number"])
    arrays, names = [], []
    for name, kind_of in COLUMNS[kind].items():
        value = columns.get(name)
        if value is None:
            value = (
                pa.array(["{}"] * length)
                if kind_of == "json"
                else pa.repeat(pa.scalar(0, pa.int64()), length)
                if kind_of == "int"
                else pa.array([None] * length, pa.string())
                if kind_of == "decimal?"
                else pa.array([""] * length, pa.string())
            )
        if isinstance(value, pa.ChunkedArray):
            value = value.combine_chunks()
        arrays.append(value)
        names.append(name)
    return pa.table(arrays, names=names)
