"""Exact decimal arithmetic on scaled integers, and vectorised tolerance resolution and checks.

Money is `Decimal(38, 18)`. Polars 1.33 multiplies two such decimals at scale 36 and silently
wraps on overflow, and refuses to divide them, so products and quotients are computed here on the
decimals' physical values: Int128 counts of 1e-18 ("raw"), split into whole and fractional parts
so that no intermediate leaves Int128. Nothing is ever a float.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import groupby

import polars as pl

from reconciliation.engine.types import DECIMAL, Override, ToleranceRules

SCALE = 10**18  # raw units per 1
LIMIT = 10**38 - 1  # the largest raw value a Decimal(38, 18) holds
_MICROSECOND = timedelta(microseconds=1)
_ATTO = pl.lit(Decimal("0.000000000000000001"), dtype=DECIMAL)


def raw(expr: pl.Expr | str) -> pl.Expr:
    """A decimal expression as its exact Int128 count of 1e-18."""
    expr = pl.col(expr) if isinstance(expr, str) else expr
    return expr.cast(DECIMAL).to_physical()


def raw_value(value: Decimal | int | str) -> int:
    """A Python number as its exact count of 1e-18 (raises if it has more than 18 places)."""
    scaled = Decimal(value).scaleb(18)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than 18 decimal places")
    return int(scaled)


def to_decimal(expr: pl.Expr) -> pl.Expr:
    """An Int128 count of 1e-18 back to Decimal(38, 18), exactly (raises beyond the range)."""
    magnitude, sign = expr.abs(), expr.sign()
    whole = (magnitude // SCALE * sign).cast(DECIMAL)
    # Polars would rescale a plain cast (n -> n * 1e18 raw); n * 1e-18 gives scale 36 and raw
    # n * 1e18, which fits because n < 1e18, and casting back to scale 18 divides exactly.
    fraction = ((magnitude % SCALE * sign).cast(DECIMAL) * _ATTO).cast(DECIMAL)
    # A sum of decimals has no precision in polars, and an expression cast to (38, 18) keeps it
    # so; a Series cast sets it, so the result matches the contract's schema exactly.
    return (whole + fraction).map_batches(_as_decimal, return_dtype=DECIMAL, is_elementwise=True)


def _as_decimal(series: pl.Series) -> pl.Series:
    return series.cast(DECIMAL)


def _round_half_even(quotient: pl.Expr, remainder: pl.Expr, divisor: pl.Expr | int) -> pl.Expr:
    """quotient + 1 when remainder/divisor > 1/2, or = 1/2 and quotient is odd (all >= 0)."""
    rest = divisor - remainder
    up = (remainder > rest) | ((remainder == rest) & (quotient % 2 == 1))
    return quotient + up.cast(pl.Int128)


def product(a: pl.Expr, b: pl.Expr, rounding: str = "half_even") -> pl.Expr:
    """Raw a * b at 18 places, rounded half-even or down (toward zero); null beyond the range."""
    sign = a.sign() * b.sign()
    a_abs, b_abs = a.abs(), b.abs()
    a1, a0 = a_abs // SCALE, a_abs % SCALE
    b1, b0 = b_abs // SCALE, b_abs % SCALE
    # (a1 + a0/S)(b1 + b0/S) * S = a1*b1*S + a1*b0 + a0*b1 + a0*b0/S; each term fits in Int128
    # once a1*b1 < 1e20, and every partial sum is checked against LIMIT before it is formed.
    whole_ok = (a1 == 0) | (b1 <= (LIMIT // SCALE) // pl.when(a1 == 0).then(1).otherwise(a1))
    high = a1 * b1 * SCALE
    cross_a, cross_b = a1 * b0, a0 * b1
    low = a0 * b0
    if rounding == "half_even":
        # Half-even looks at the parity of the whole result, not of low's quotient alone
        # (high is a multiple of SCALE, so even).
        quotient, remainder = low // SCALE, low % SCALE
        odd = (cross_a % 2 + cross_b % 2 + quotient % 2) % 2 == 1
        rest = SCALE - remainder
        up = (remainder > rest) | ((remainder == rest) & odd)
        low_part = quotient + up.cast(pl.Int128)
    elif rounding == "down":
        low_part = low // SCALE
    else:
        raise ValueError(f"unknown rounding {rounding!r}")
    ok = (
        whole_ok
        & (cross_a <= LIMIT - cross_b)
        & (cross_a + cross_b <= LIMIT - high)
        & (low_part <= LIMIT - high - cross_a - cross_b)
    )
    total = high + cross_a + cross_b + low_part
    return pl.when(ok).then(total * sign)


def _times_ten_mod(frame: pl.LazyFrame, r: str, b: str, digit: str) -> pl.LazyFrame:
    """Replace r (0 <= r < b) by 10r mod b and set digit = 10r // b, never leaving Int128."""

    def double(x: pl.Expr, carry: str, out: str, plus: pl.Expr | None = None) -> list[pl.Expr]:
        other = x if plus is None else plus
        over = x >= pl.col(b) - other  # x + other >= b, tested without forming the sum
        return [
            over.cast(pl.Int128).alias(carry),
            pl.when(over).then(x - (pl.col(b) - other)).otherwise(x + other).alias(out),
        ]

    return (
        frame.with_columns(double(pl.col(r), "_c1", "_r2"))
        .with_columns(double(pl.col("_r2"), "_c2", "_r4"))
        .with_columns(double(pl.col("_r4"), "_c3", "_r8"))
        .with_columns(double(pl.col("_r8"), "_c4", r, plus=pl.col("_r2")))  # 10r = 8r + 2r
        .with_columns(
            (5 * pl.col("_c1") + 2 * pl.col("_c2") + pl.col("_c3") + pl.col("_c4")).alias(digit)
        )
        .drop("_c1", "_c2", "_c3", "_c4", "_r2", "_r4", "_r8")
    )


def with_quotient(
    frame: pl.DataFrame, numerator: str, denominator: str, out: str, shift: int = 0
) -> pl.DataFrame:
    """Add raw `out` = numerator / denominator * 10**shift at 18 places, half-even.

    Both inputs are raw Int128 columns; `out` is null where the denominator is 0 or null or the
    quotient is beyond the range. Long division, one decimal digit per step.
    """
    n, d = pl.col(numerator), pl.col(denominator)
    lazy = frame.lazy().with_columns(
        (n.sign() * d.sign()).alias("_sign"),
        pl.when(d != 0).then(d.abs()).alias("_b"),
        (n.abs() // pl.when(d != 0).then(d.abs())).alias("_q"),
        (n.abs() % pl.when(d != 0).then(d.abs())).alias("_r"),
        pl.lit(True).alias("_ok"),
    )
    for _ in range(18 + shift):
        lazy = _times_ten_mod(lazy, "_r", "_b", "_digit").with_columns(
            (pl.col("_ok") & (pl.col("_q") <= (LIMIT - 9) // 10)).alias("_ok"),
            (pl.col("_q") * 10 + pl.col("_digit")).alias("_q"),
        )
    rounded = _round_half_even(pl.col("_q"), pl.col("_r"), pl.col("_b"))
    result = pl.when(pl.col("_ok") & (rounded <= LIMIT)).then(rounded * pl.col("_sign"))
    return (
        lazy.with_columns(result.alias(out))
        .drop("_sign", "_b", "_q", "_r", "_ok", "_digit", strict=False)
        .collect()
    )


def within_tolerance(
    difference: pl.Expr, external: pl.Expr, absolute: pl.Expr, relative: pl.Expr
) -> pl.Expr:
    """|difference| <= max(absolute, relative * |external|), exactly; all raw Int128."""
    size = difference.abs()
    # size counts whole units of 1e-18, so size <= x exactly when size <= floor(x); a product
    # beyond the range (null) is a tolerance no difference can exceed.
    allowed = product(relative, external.abs(), rounding="down")
    return (size <= absolute) | allowed.is_null() | (size <= allowed)


# --- Resolving ToleranceRules for millions of keys -----------------------------------------------


def _level_index(level: list[tuple[int, Override]]) -> pl.Expr:
    """The index of the first override of one specificity level that applies to each row."""
    first = level[0][1]
    dims = [name for name in ("account", "asset") if getattr(first, name) is not None]
    if not dims:
        return pl.lit(level[0][0], dtype=pl.Int32)
    mapping: dict = {}
    for index, override in level:
        mapping.setdefault(tuple(getattr(override, name) for name in dims), index)
    if len(dims) == 1:
        return pl.col(dims[0]).replace_strict(
            {k[0]: v for k, v in mapping.items()}, default=None, return_dtype=pl.Int32
        )
    # Account and asset both set: a "\x1f"-joined key, a separator no code contains.
    joined = pl.concat_str([pl.col("account"), pl.col("asset")], separator="\x1f")
    return joined.replace_strict(
        {"\x1f".join(k): v for k, v in mapping.items()}, default=None, return_dtype=pl.Int32
    )


def with_tolerance(frame: pl.DataFrame, rules: ToleranceRules, field_name: str) -> pl.DataFrame:
    """Add raw abs_raw, rel_raw and window_us per row, as `ToleranceRules.for_key` would.

    `ToleranceRules.frame` resolves each distinct key in Python, which is too slow for a million
    keys; here each level of equal specificity is one hash lookup over the column.
    """
    candidates = [(i, o) for i, o in enumerate(rules.overrides) if o.field in (None, field_name)]
    # Most specific first; ties keep the declared order, as max() in for_key does.
    candidates.sort(key=lambda pair: pair[1].specificity, reverse=True)
    levels = [list(group) for _, group in groupby(candidates, key=lambda p: p[1].specificity)]
    tolerances = [o.tolerance for o in rules.overrides] + [rules.default]
    default_index = len(rules.overrides)
    index = pl.coalesce([*(_level_index(level) for level in levels), pl.lit(default_index)])
    columns = {
        "abs_raw": pl.Series([raw_value(t.absolute) for t in tolerances], dtype=pl.Int128),
        "rel_raw": pl.Series([raw_value(t.relative) for t in tolerances], dtype=pl.Int128),
        "window_us": pl.Series([t.time_window // _MICROSECOND for t in tolerances]),
    }
    # The index is materialised first so that a constant index still yields full columns.
    return (
        frame.with_columns(index.cast(pl.Int32).alias("_tolerance"))
        .with_columns(
            pl.lit(values).gather(pl.col("_tolerance")).alias(name)
            for name, values in columns.items()
        )
        .drop("_tolerance")
    )


def rule_details(absolute: pl.Expr, relative: pl.Expr) -> pl.Expr:
    """The rule used, as a JSON object string with decimal strings (for a break's details)."""
    return pl.concat_str(
        pl.lit('{"absolute":"'),
        to_decimal(absolute).cast(pl.String),
        pl.lit('","relative":"'),
        to_decimal(relative).cast(pl.String),
        pl.lit('"}'),
    )
