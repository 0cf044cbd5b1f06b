"""What trade matching (trades.py), split fills (trade_splits.py) and fees (fees.py) share.

Exact arithmetic on Int128 units, the trades input and its tolerances, and the building blocks of
break rows. Money stays exact: Decimal(38,18) columns are compared as their Int128 units of 1e-18.
polars 1.33 silently wraps Decimal products and rejects most Decimal divisions, so tolerance and
percentage arithmetic is done on those integers in ways that cannot overflow (see `within`,
`with_percent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import polars as pl

from reconciliation.engine.causes import DECIMAL_SHIFT, SIGN_FLIP
from reconciliation.engine.tolerance import SCALE, product, raw_value, to_decimal, with_quotient
from reconciliation.engine.tolerance import raw as units
from reconciliation.engine.types import (
    BREAKS,
    DECIMAL,
    TRADES,
    Tolerance,
    ToleranceRules,
    empty_breaks,
)

KEYS = ["account", "pair", "side"]
SIDE_COLUMNS = ["trade_id", "pair", "side", "quantity", "price", "fee", "fee_asset", "executed_at"]
ROUNDING, SPLIT_FILL = "rounding", "split_fill"
# Rules of matches that sum several rows on one side: their differences are caused by the split.
SPLIT_RULES = ("id:many-to-one", "split:one-to-many", "split:many-to-one")


@dataclass(frozen=True)
class TradeMatch:
    """Matched trades (one row per match, with the rule that matched them) and the breaks."""

    matches: pl.DataFrame
    breaks: pl.DataFrame


# --- Exact arithmetic on Int128 units (raw counts of 1e-18, see tolerance.py) -------------------


def i128(value: int) -> pl.Expr:
    return pl.lit(value, pl.Int128)


def within(diff: pl.Expr, external: pl.Expr, absolute: pl.Expr, relative: pl.Expr) -> pl.Expr:
    """|diff| <= max(absolute, relative * |external|), exactly, on raw Int128 values."""
    d, e = diff.abs(), external.abs()
    # relative * |external| split into whole and fractional parts of external: with relative <= 1
    # (checked where tolerances are resolved) nothing exceeds 1e38, and only constant divisors are
    # used, which keeps this ~10x faster than tolerance.within_tolerance on a million rows.
    scale = i128(SCALE)
    return (d <= absolute) | (d <= relative * (e // scale) + (relative * (e % scale)) // scale)


def checked(tolerance: Tolerance, account: str, asset: str) -> Tolerance:
    """`tolerance` if `within` can apply it exactly (relative <= 1), else ValueError."""
    if not 0 <= tolerance.relative <= 1 or tolerance.absolute < 0:
        raise ValueError(f"tolerance for {account} {asset} out of range: {tolerance}")
    return tolerance


def _places(value: pl.Expr) -> pl.Expr:
    """Decimal places a raw value actually uses (0 for whole numbers)."""
    text = value.abs().cast(pl.String)
    zeros = text.str.len_chars() - text.str.strip_chars_end("0").str.len_chars()
    return pl.when(value == i128(0)).then(0).otherwise((18 - zeros).clip(lower_bound=0))


def value_causes(internal: pl.Expr, external: pl.Expr) -> list[pl.Expr]:
    """Causes read off two differing raw values: sign flip, decimal shift, rounding."""
    diff_digits = (internal - external).abs().cast(pl.String).str.len_chars()
    smaller = pl.min_horizontal(_places(internal), _places(external))
    significant = [v.abs().cast(pl.String).str.strip_chars_end("0") for v in (internal, external)]
    nonzero = (internal != i128(0)) & (external != i128(0))
    return [
        pl.when(nonzero & (internal + external == i128(0))).then(pl.lit(SIGN_FLIP)),
        pl.when(nonzero & (significant[0] == significant[1]) & (internal.abs() != external.abs()))
        .then(pl.lit(DECIMAL_SHIFT)),
        # Below one unit of the last place the coarser side books: one side rounded.
        pl.when(nonzero & (diff_digits <= 18 - smaller)).then(pl.lit(ROUNDING)),
    ]  # fmt: skip


def with_percent(frame: pl.DataFrame, diff: str, external: str, out: str) -> pl.DataFrame:
    """Add `out` = diff / |external| * 100 as Decimal(38,18); null when external is 0."""
    frame = frame.with_columns(_den=pl.col(external).abs())
    frame = with_quotient(frame, diff, "_den", "_pct_raw", shift=2)
    return frame.with_columns(to_decimal(pl.col("_pct_raw")).alias(out)).drop("_den", "_pct_raw")


# --- Inputs and tolerances -----------------------------------------------------------------------


def prepare(frame: pl.DataFrame) -> pl.DataFrame:
    """The TRADES columns, exact types (optional ones may be absent), and a row number `_row`."""
    optional = {"order_id", "exchange_trade_id", "base", "quote", "fee", "fee_asset"}
    absent = [c for c in TRADES if c not in frame.columns]
    if set(absent) - optional:
        raise ValueError(f"trades frame lacks column(s) {sorted(set(absent) - optional)}")
    frame = frame.with_columns(pl.lit(None, TRADES[c]).alias(c) for c in absent)
    frame = frame.select(pl.col(c).cast(t) for c, t in TRADES.items())
    blank = ("order_id", "exchange_trade_id", "fee_asset")
    frame = frame.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in blank)
    frame = frame.with_columns(pl.col("fee").fill_null(Decimal(0)))
    if frame["base"].null_count() or frame["quote"].null_count():
        # Split each distinct pair once, not every row.
        pairs = frame["pair"].unique().drop_nulls().to_list()
        for column, part in (("base", 0), ("quote", -1)):
            names = {p: p.split("/")[part] for p in pairs}
            frame = frame.with_columns(
                pl.col(column).fill_null(
                    pl.col("pair").replace_strict(names, default=None, return_dtype=pl.String)
                )
            )
    return frame.with_row_index("_row")


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def tolerance_table(keys: pl.DataFrame, rules: ToleranceRules, fields=("quantity", "price", "fee")):
    """Per distinct (account, pair): {field}_abs/_rel in Int128 units, window_us and rule text."""
    rows = []
    for account, pair in keys.select("account", "pair").unique().iter_rows():
        row, text = {"account": account, "pair": pair}, ["pair+side"]
        window = rules.for_key(account, pair, "executed_at").time_window
        row["window_us"] = int(window / timedelta(microseconds=1))
        text.append(f"time({_plain(Decimal(row['window_us']).scaleb(-6))}s)")
        for name in fields:
            tolerance = checked(rules.for_key(account, pair, name), account, pair)
            row[f"{name}_abs"] = raw_value(tolerance.absolute)
            row[f"{name}_rel"] = raw_value(tolerance.relative)
            if name in ("quantity", "price"):
                text.append(f"{name}(abs {_plain(tolerance.absolute)}, "
                            f"rel {_plain(tolerance.relative)})")  # fmt: skip
        rows.append(row | {"window_rule": "+".join(text)})
    schema = {"account": pl.String, "pair": pl.String, "window_us": pl.Int64}
    schema |= {f"{n}_{k}": pl.Int128 for n in fields for k in ("abs", "rel")}
    return pl.DataFrame(rows, schema=schema | {"window_rule": pl.String})


def attach(frame: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the tolerance columns of its (account, pair); literals when all are the same."""
    values = table.drop("account", "pair")
    if len(set(values.iter_rows())) == 1:
        row = zip(values.schema.items(), values.row(0), strict=True)
        return frame.with_columns(pl.lit(v, t).alias(c) for (c, t), v in row)
    return frame.join(table, on=["account", "pair"], how="left")


# --- Break rows ----------------------------------------------------------------------------------


def json_details(**values: pl.Expr) -> pl.Expr:
    """A break's details as a JSON object with sorted keys (the vectorised `types.details`)."""
    return pl.struct(*(values[k].alias(k) for k in sorted(values))).struct.json_encode()


def breaks_frame(frame: pl.DataFrame, *, type_: str, field: str, key: pl.Expr, asset: pl.Expr,
                 entity: pl.Expr, internal: pl.Expr, external: pl.Expr, causes: list[pl.Expr],
                 suggested: pl.Expr, details: pl.Expr, difference: pl.Expr | None = None,
                 percent_of: pl.Expr | None = None, value_asset: pl.Expr | None = None,
                 value_amount: pl.Expr | None = None) -> pl.DataFrame:  # fmt: skip
    """BREAKS + EXPOSURE rows from `frame`; difference, percent_of, value_amount in Int128 units.

    What a break is worth defaults to |difference| of `asset` (see types.EXPOSURE).
    """
    if frame.is_empty():
        return empty_breaks(exposure=True)
    pct = pl.lit(None, DECIMAL)
    if difference is not None and percent_of is not None:
        frame = with_percent(frame.with_columns(_d=difference, _b=percent_of), "_d", "_b", "_pct")
        difference, pct = pl.col("_d"), pl.col("_pct")
    if value_amount is None:
        value_amount = pl.lit(None, pl.Int128) if difference is None else difference.abs()
    return frame.select(
        type=pl.lit(type_), break_key=key, account=pl.col("account"), asset=asset, entity=entity,
        field=pl.lit(field), internal_value=internal.cast(DECIMAL),
        external_value=external.cast(DECIMAL),
        difference=pl.lit(None, DECIMAL) if difference is None else to_decimal(difference),
        difference_pct=pct, causes=pl.concat_list(causes).list.drop_nulls().cast(BREAKS["causes"]),
        suggested_value=suggested.cast(DECIMAL), details=details,
        value_asset=asset if value_asset is None else value_asset,
        value_amount=to_decimal(value_amount),
    )  # fmt: skip


def match_key(type_: str, field: str) -> pl.Expr:
    """f"{type}|{account}|{external trade id(s)}|{field}" of a match's break."""
    ids = pl.col("external_ids").list.join("+")
    return pl.concat_str(pl.lit(type_ + "|"), "account", pl.lit("|"), ids, pl.lit("|" + field))


def match_details(field: str | None = None, **extra: pl.Expr) -> pl.Expr:
    """The evidence of a match's break: the match, its rule, and the tolerance used."""
    if field is not None:
        extra |= {f"tolerance_{k}": to_decimal(pl.col(f"{field}_{k}")).cast(pl.String)
                  for k in ("abs", "rel")}  # fmt: skip
    ids = {k: pl.col(k) for k in ("match_id", "rule", "internal_ids", "external_ids")}
    return json_details(**ids, **extra)


def split_cause() -> pl.Expr:
    """The cause "split_fill" on the breaks of a match that sums several rows on one side."""
    return pl.when(pl.col("split")).then(pl.lit(SPLIT_FILL))


def value_breaks(m: pl.DataFrame, type_: str, field: str, asset: str) -> pl.DataFrame:
    """Breaks where internal_{field} and external_{field} differ beyond the field's tolerance."""
    i, e = pl.col("_i"), pl.col("_e")
    f = m.with_columns(_i=units(f"internal_{field}"), _e=units(f"external_{field}"))
    # Most matches agree exactly: a cheap cut on the absolute tolerance first.
    f = f.filter((i - e).abs() > pl.col(f"{field}_abs"))
    f = f.filter(~within(i - e, e, pl.col(f"{field}_abs"), pl.col(f"{field}_rel")))
    # A price difference is worth itself times the quantity traded (in the quote asset).
    amount = product((i - e).abs(), units("external_quantity")) if field == "price" else None
    return breaks_frame(
        f, type_=type_, field=field, key=match_key(type_, field), asset=pl.col(asset),
        entity=pl.col("external_ids").list.join("+"), internal=to_decimal(i),
        external=to_decimal(e), difference=i - e, percent_of=e,
        causes=[*value_causes(i, e), split_cause()], suggested=to_decimal(e),
        details=match_details(field), value_amount=amount,
    )  # fmt: skip
