"""Trade matching (SPEC 2.1): the firm's fills against the exchange's trades, exact and vectorised.

Steps, each only on rows not matched yet: (a) by id, (b) one-to-one by account/pair/side, nearest
in time with quantity and price within tolerance, (c) split fills (trade_splits.py), (d) the rest
is missing on the other side. Fields of matched trades that differ beyond tolerance are breaks.

Money stays exact: Decimal(38,18) columns are compared as their Int128 units of 1e-18. polars 1.33
silently wraps Decimal products and rejects most Decimal divisions, so tolerance and percentage
arithmetic is done on those integers in ways that cannot overflow (see `within`, `with_percent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, localcontext

import polars as pl

from reconciliation.engine.types import BREAKS, DECIMAL, TRADES, ToleranceRules, empty_breaks

SCALE = 10**18  # Decimal(38,18) units per 1
FIELDS = ("quantity", "price", "fee", "fee_asset", "executed_at")  # compared on every match
KEYS = ["account", "pair", "side"]
MAX_ROUNDS = 32  # vectorised rounds before finishing a greedy assignment in plain Python
DUPLICATE_WINDOW_US = 1_000_000


@dataclass(frozen=True)
class TradeMatch:
    """Matched trades (one row per match, with the rule that matched them) and the breaks."""

    matches: pl.DataFrame
    breaks: pl.DataFrame


# --- Exact arithmetic on Int128 units ------------------------------------------------------------


def i128(value: int) -> pl.Expr:
    return pl.lit(value, pl.Int128)


def units(column: str) -> pl.Expr:
    """A Decimal(38,18) column as exact Int128 units of 1e-18."""
    return pl.col(column).cast(DECIMAL).to_physical()


def to_decimal(value: pl.Expr) -> pl.Expr:
    """Int128 units back to an exact Decimal(38,18) (through text: polars cannot rescale)."""
    digits = value.abs().cast(pl.String).str.zfill(19)
    sign = pl.when(value < i128(0)).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(sign, digits.str.head(-18), pl.lit("."), digits.str.tail(18)).cast(DECIMAL)


def within(diff: pl.Expr, external: pl.Expr, absolute: pl.Expr, relative: pl.Expr) -> pl.Expr:
    """|diff| <= max(absolute, relative * |external|), exactly, all in Int128 units."""
    d, e = diff.abs(), external.abs()
    # relative * |external| split into whole and fractional units: with relative <= 1 (enforced in
    # tolerance_table) no intermediate exceeds 1e38, so nothing wraps.
    whole, part = e // i128(SCALE), e % i128(SCALE)
    return (d <= absolute) | (d <= relative * whole + (relative * part) // i128(SCALE))


def _places(value: pl.Expr) -> pl.Expr:
    """Decimal places actually used by a value in units (0 for whole numbers)."""
    text = value.abs().cast(pl.String)
    zeros = text.str.len_chars() - text.str.strip_chars_end("0").str.len_chars()
    return pl.when(value == i128(0)).then(0).otherwise((18 - zeros).clip(lower_bound=0))


def value_causes(internal: pl.Expr, external: pl.Expr) -> list[pl.Expr]:
    """Causes read off two differing values in units: rounding, decimal shift, sign flip."""
    diff_digits = (internal - external).abs().cast(pl.String).str.len_chars()
    smaller = pl.min_horizontal(_places(internal), _places(external))
    significant = [v.abs().cast(pl.String).str.strip_chars_end("0") for v in (internal, external)]
    nonzero = (internal != i128(0)) & (external != i128(0))
    return [
        pl.when(diff_digits <= 18 - smaller).then(pl.lit("rounding")),
        pl.when(nonzero & (significant[0] == significant[1]) & (internal.abs() != external.abs()))
        .then(pl.lit("decimal_shift")),
        pl.when(nonzero & (internal == i128(0) - external)).then(pl.lit("sign_flip")),
    ]  # fmt: skip


def with_percent(frame: pl.DataFrame, diff: str, external: str, out: str) -> pl.DataFrame:
    """Add `out` = diff / |external| * 100 as Decimal(38,18), truncated; null when external is 0."""
    num, den = pl.col("_num"), pl.col("_den")
    f = frame.with_columns(_num=pl.col(diff).abs() * i128(100), _den=pl.col(external).abs())
    f = f.with_columns(_q=num // den, _r=num % den)
    # Long division one digit at a time: _r < _den, so _r * 10 never wraps.
    for _ in range(18):
        f = f.with_columns(_q=pl.col("_q") * i128(10) + (pl.col("_r") * i128(10)) // den,
                           _r=(pl.col("_r") * i128(10)) % den)  # fmt: skip
    signed = pl.when(pl.col(diff) < i128(0)).then(i128(0) - pl.col("_q")).otherwise(pl.col("_q"))
    fits = (den > i128(0)) & (pl.col("_q") < i128(10**38))
    return f.with_columns(to_decimal(pl.when(fits).then(signed)).alias(out)).drop(
        "_num", "_den", "_q", "_r"
    )


# --- Inputs and tolerances -----------------------------------------------------------------------


def prepare(frame: pl.DataFrame) -> pl.DataFrame:
    """The TRADES columns with exact types (optional ones may be absent), plus a row number `_row`."""
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
        parts = pl.col("pair").str.split("/")
        frame = frame.with_columns(pl.col("base").fill_null(parts.list.first()),
                                   pl.col("quote").fill_null(parts.list.last()))  # fmt: skip
    return frame.with_row_index("_row")


def _units_of(value: Decimal) -> int:
    with localcontext(prec=80):
        return int(value.scaleb(18))


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _window_text(window: timedelta) -> str:
    return _plain(Decimal(int(window / timedelta(microseconds=1))).scaleb(-6)) + "s"


def tolerance_table(keys: pl.DataFrame, rules: ToleranceRules, fields=("quantity", "price", "fee")):
    """Per distinct (account, pair): {field}_abs/_rel in Int128 units, window_us and rule text."""
    rows = []
    for account, pair in keys.select("account", "pair").unique().iter_rows():
        row = {"account": account, "pair": pair}
        text = {}
        for name in fields:
            tolerance = rules.for_key(account, pair, name)
            if tolerance.absolute < 0 or not 0 <= tolerance.relative <= 1:
                raise ValueError(f"{name} tolerance of {account} {pair} out of range: {tolerance}")
            row[f"{name}_abs"] = _units_of(tolerance.absolute)
            row[f"{name}_rel"] = _units_of(tolerance.relative)
            text[name] = (
                f"{name}(abs {_plain(tolerance.absolute)}, rel {_plain(tolerance.relative)})"
            )
        window = rules.for_key(account, pair, "executed_at").time_window
        row["window_us"] = int(window / timedelta(microseconds=1))
        row["window_rule"] = "+".join(
            ["pair+side", f"time({_window_text(window)})", text["quantity"], text["price"]]
        )
        rows.append(row)
    schema = {"account": pl.String, "pair": pl.String}
    schema |= {f"{n}_{k}": pl.Int128 for n in fields for k in ("abs", "rel")}
    return pl.DataFrame(rows, schema=schema | {"window_us": pl.Int64, "window_rule": pl.String})


def attach(frame: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the tolerance columns of its (account, pair); literals when all are the same."""
    values = table.drop("account", "pair")
    if len(set(values.iter_rows())) == 1:
        return frame.with_columns(pl.lit(v, t).alias(c) for (c, t), v in
                                  zip(values.schema.items(), values.row(0), strict=True))  # fmt: skip
    return frame.join(table, on=["account", "pair"], how="left")


# --- Matching steps ------------------------------------------------------------------------------


def one_to_one(candidates: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    """Greedy one-to-one pairs (i_row, e_row): best first by `order`; no row is used twice."""
    if candidates["i_row"].is_unique().all() and candidates["e_row"].is_unique().all():
        return candidates
    # With a strict order, repeatedly taking the pairs that are best for both of their rows gives
    # exactly the sequential greedy assignment, mostly in one or two vectorised rounds.
    ranked = candidates.sort([*order, "i_row", "e_row"]).with_row_index("_rank")
    chosen = []
    for _ in range(MAX_ROUNDS):
        if ranked.is_empty():
            break
        rank = pl.col("_rank")
        best = ranked.filter(
            (rank == rank.min().over("i_row")) & (rank == rank.min().over("e_row"))
        )
        chosen.append(best)
        ranked = ranked.join(best.select("i_row"), on="i_row", how="anti")
        ranked = ranked.join(best.select("e_row"), on="e_row", how="anti")
    used_i, used_e, rest = set(), set(), []
    for row in ranked.iter_rows(named=True):
        if row["i_row"] not in used_i and row["e_row"] not in used_e:
            used_i.add(row["i_row"])
            used_e.add(row["e_row"])
            rest.append(row)
    chosen.append(pl.DataFrame(rest, schema=ranked.schema))
    return pl.concat(chosen).drop("_rank")


def _side(frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
    return frame.select(pl.col("_row").alias(f"{prefix}_row"),
                        pl.col("trade_id").alias(f"{prefix}_id"),
                        pl.col("executed_at").alias(f"{prefix}_t"), "account")  # fmt: skip


def _id_pairs(internal: pl.DataFrame, external: pl.DataFrame) -> pl.DataFrame:
    """Step a: exchange trade id; internal rows without one fall back to their own trade id."""
    right = _side(external, "e").with_columns(_id=pl.col("e_id"))
    order = ["_dt", "i_id", "e_id"]
    found = []
    for column, rows in (("exchange_trade_id", pl.col("exchange_trade_id").is_not_null()),
                         ("trade_id", pl.col("exchange_trade_id").is_null())):  # fmt: skip
        left = _side(internal.filter(rows), "i").with_columns(_id=internal.filter(rows)[column])
        pairs = left.join(right, on=["account", "_id"])
        pairs = one_to_one(pairs.with_columns(_dt=(pl.col("i_t") - pl.col("e_t")).abs()), order)
        found.append(pairs.select("i_row", "e_row"))
        right = right.join(pairs.select(e_row="e_row"), on="e_row", how="anti")
    return pl.concat(found).with_columns(rule=pl.lit("id"))


def _nearest(a: pl.DataFrame, b: pl.DataFrame, by: list[str], window_us: int) -> pl.DataFrame:
    a_row, b_row = a.columns[0], b.columns[0]
    pairs = a.join_asof(b, on="executed_at", by=by, strategy="nearest", check_sortedness=False,
                        tolerance=timedelta(microseconds=window_us))  # fmt: skip
    return pairs.select(a_row, b_row).drop_nulls()


def _window_pairs(internal: pl.DataFrame, external: pl.DataFrame, table: pl.DataFrame):
    """Step b: one-to-one, same account/pair/side, nearest in time, quantity and price verified."""
    cols = ["account", "pair", "side", "executed_at", "quantity", "price", "trade_id"]
    left = internal.select(pl.col("_row").alias("i_row"), *cols)
    right = external.select(pl.col("_row").alias("e_row"), *cols)
    window_us = int(table["window_us"].max() or 0)
    found = []
    for _ in range(MAX_ROUNDS):
        if left.is_empty() or right.is_empty():
            break
        left, right = (f.sort("executed_at", "trade_id", f.columns[0]) for f in (left, right))
        # Nearest in time both ways, with and without equal quantity: the nearest row of another
        # size must not hide an exact-size row a little further away.
        candidates = pl.concat(
            [_nearest(left, right, by, window_us) for by in (KEYS, [*KEYS, "quantity"])]
            + [_nearest(right, left, by, window_us).select("i_row", "e_row")
               for by in (KEYS, [*KEYS, "quantity"])]
        ).unique()  # fmt: skip
        pairs = _verify_window(candidates, left, right, table)
        if pairs.is_empty():
            break
        found.append(pairs)
        left = left.join(pairs.select("i_row"), on="i_row", how="anti")
        right = right.join(pairs.select("e_row"), on="e_row", how="anti")
    return pl.concat(found) if found else pl.DataFrame(schema={"i_row": pl.UInt32,
                                                               "e_row": pl.UInt32,
                                                               "rule": pl.String})  # fmt: skip


def _verify_window(candidates, left, right, table) -> pl.DataFrame:
    both = candidates.join(left, on="i_row").join(right, on="e_row", suffix="_e")
    both = attach(both.filter(pl.col("side") == pl.col("side_e")), table)
    both = both.with_columns(
        _dt=(pl.col("executed_at") - pl.col("executed_at_e")).dt.total_microseconds().abs(),
        _dq=units("quantity") - units("quantity_e"),
        _dp=units("price") - units("price_e"),
    )
    ok = (
        (pl.col("_dt") <= pl.col("window_us"))
        & within(pl.col("_dq"), units("quantity_e"), pl.col("quantity_abs"), pl.col("quantity_rel"))
        & within(pl.col("_dp"), units("price_e"), pl.col("price_abs"), pl.col("price_rel"))
    )
    ranked = both.filter(ok).with_columns(_aq=pl.col("_dq").abs(), _ap=pl.col("_dp").abs())
    pairs = one_to_one(ranked, ["_dt", "_aq", "_ap", "trade_id", "trade_id_e"])
    return pairs.select("i_row", "e_row", rule=pl.col("window_rule"))
