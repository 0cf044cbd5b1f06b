"""Prices, portfolio valuation in a reporting currency, and severity by value (SPEC 2.3, 2.5).

Rounding: a product (quantity * price, or a cross rate such as ETH/BTC * BTC/USD) is exact to
36 places and is rounded once, half-even, to the 18 places of Decimal(38, 18).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import polars as pl

from reconciliation.engine import causes
from reconciliation.engine.balances import build_breaks, join_sides
from reconciliation.engine.tolerance import (
    SCALE,
    product,
    raw,
    raw_value,
    to_decimal,
    with_tolerance,
    within_tolerance,
)
from reconciliation.engine.types import BREAKS, PRICES, TIME, ToleranceRules

SELECTED = {
    "asset": pl.String,
    "price": PRICES["price"],
    "price_source": pl.String,
    "price_as_of": TIME,
    "stale": pl.Boolean,
}
LEVELS = ("low", "medium", "high", "critical")
REPORTING_SOURCE = "reporting_currency"


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (times are UTC)")


def _candidates(prices, as_of, source_priority, staleness) -> pl.LazyFrame:
    """Per (asset, quote, source) its latest price at or before as_of, ranked and flagged."""
    rank = {source: i for i, source in enumerate(source_priority)}
    return (
        prices.lazy()
        .with_row_index("_row")
        .with_columns(pl.col(c).cast(t) for c, t in PRICES.items())
        .filter(pl.col("as_of") <= as_of)
        .sort("as_of", "_row")  # the latest, and among equal times the file's last
        .group_by("asset", "quote", "price_source")
        .agg(pl.col("price").last(), pl.col("as_of").last())
        .with_columns(
            raw("price").alias("price_raw"),
            # Sources not listed come after all listed ones.
            pl.col("price_source")
            .replace_strict(rank, default=len(rank), return_dtype=pl.Int32)
            .alias("_rank"),
            (pl.col("as_of") < as_of - staleness).alias("stale"),
        )
    )


def _direct(candidates: pl.LazyFrame, currency: str) -> pl.LazyFrame:
    return candidates.filter(pl.col("quote") == currency).select(
        "asset",
        "price_raw",
        "price_source",
        pl.col("as_of").alias("price_as_of"),
        "stale",
        "_rank",
        pl.lit(0).alias("_route"),
    )


def _crossed(candidates: pl.LazyFrame, currency: str) -> pl.LazyFrame:
    """asset/X * X/currency for every intermediate X quoted in both legs."""
    first = candidates.filter((pl.col("quote") != currency) & (pl.col("asset") != currency))
    second = candidates.filter(pl.col("quote") == currency).select(
        pl.col("asset").alias("quote"), pl.all().exclude("asset", "quote").name.suffix("_2")
    )
    legs = first.join(second, on="quote", how="inner")
    source = pl.concat_str(
        "price_source",
        pl.lit(":"),
        "asset",
        pl.lit("/"),
        "quote",
        pl.lit("*"),
        "price_source_2",
        pl.lit(":"),
        "quote",
        pl.lit(f"/{currency}"),
    )
    return legs.select(
        "asset",
        product(pl.col("price_raw"), pl.col("price_raw_2")).alias("price_raw"),
        source.alias("price_source"),
        pl.min_horizontal("as_of", "as_of_2").alias("price_as_of"),  # the older leg's age
        (pl.col("stale") | pl.col("stale_2")).alias("stale"),
        pl.max_horizontal("_rank", "_rank_2").alias("_rank"),
        pl.lit(1).alias("_route"),
    )


def select_prices(
    prices: pl.DataFrame,
    *,
    as_of: datetime,
    reporting_currency: str,
    source_priority: list[str],
    staleness: timedelta,
    last_known_good: bool,
) -> pl.DataFrame:
    """Per asset the price to use in the reporting currency, its source, time and staleness.

    Preference: fresh before stale (a stale price is only the last-known-good fallback), direct
    before crossed, source priority (unlisted sources last; a cross rate ranks as its worse
    leg), latest, then source name. A stale price has price null unless `last_known_good`, so
    it is still reported (as stale) but never used. Inverse quotes (USD/X) are not inverted.
    """
    _require_aware(as_of)
    candidates = _candidates(prices, as_of, source_priority, staleness).cache()
    options = pl.concat(
        [_direct(candidates, reporting_currency), _crossed(candidates, reporting_currency)]
    )
    chosen = (
        options.filter(pl.col("asset") != reporting_currency)
        .sort(
            "asset",
            "stale",
            "_route",
            "_rank",
            pl.col("price_as_of"),
            "price_source",
            descending=[False, False, False, False, True, False],
        )
        .group_by("asset", maintain_order=True)
        .first()
        .with_columns(
            pl.when(~pl.col("stale") | last_known_good).then("price_raw").alias("price_raw")
        )
        .collect()
    )
    identity = pl.DataFrame(
        [(reporting_currency, SCALE, REPORTING_SOURCE, as_of, False)],
        schema={**SELECTED, "price": pl.Int128},
        orient="row",
    ).rename({"price": "price_raw"})
    result = pl.concat([chosen.select(identity.columns).cast(identity.schema), identity])
    return (
        result.with_columns(to_decimal(pl.col("price_raw")).alias("price"))
        .select(list(SELECTED))
        .sort("asset")
    )


def prices_under(prices: pl.DataFrame, as_of: datetime, definition) -> pl.DataFrame:
    """`select_prices` with a rule definition's pricing: its sources first, then the others in
    the order the dataset holds them (what every run and correction values with)."""
    present = prices.get_column("price_source").unique(maintain_order=True).to_list()
    listed = list(definition.price_sources)
    return select_prices(
        prices,
        as_of=as_of,
        reporting_currency=definition.reporting_currency,
        source_priority=listed + [s for s in present if s not in listed],
        staleness=definition.price_staleness,
        last_known_good=definition.last_known_good,
    )


def _with_prices(
    frame: pl.DataFrame, prices: pl.DataFrame, currency: str, on: str = "asset"
) -> pl.DataFrame:
    """frame plus price_raw, price_source, price_as_of, stale of its `on` asset (currency: 1)."""
    prices = prices.filter(pl.col("asset") != currency).select(
        pl.col("asset").alias(on), raw("price").alias("price_raw"), "price_source",
        "price_as_of", "stale",
    )  # fmt: skip
    joined = frame.join(prices, on=on, how="left", maintain_order="left")
    is_currency = pl.col(on) == currency
    return joined.with_columns(
        pl.when(is_currency)
        .then(pl.lit(SCALE, dtype=pl.Int128))
        .otherwise("price_raw")
        .alias("price_raw"),
        pl.when(is_currency)
        .then(pl.lit(REPORTING_SOURCE))
        .otherwise("price_source")
        .alias("price_source"),
        pl.when(is_currency).then(pl.lit(False)).otherwise("stale").alias("stale"),
    )


def value_breaks(
    breaks: pl.DataFrame, prices_selected: pl.DataFrame, *, reporting_currency: str
) -> pl.DataFrame:
    """BREAKS plus value_rc (what the break is worth, 18 places) and the price used.

    A break is worth `value_amount` of `value_asset` where the engine says so (types.EXPOSURE),
    else |difference| of its asset; a valuation break's difference is already in the currency.
    """
    columns = breaks.columns
    asset = pl.col("value_asset") if "value_asset" in columns else pl.col("asset")
    amount = raw("value_amount") if "value_amount" in columns else raw("difference").abs()
    frame = breaks.with_columns(_value_asset=asset, _amount=amount)
    priced = _with_prices(frame, prices_selected, reporting_currency, on="_value_asset")
    value = (
        pl.when((pl.col("type") == "valuation") | (pl.col("_amount") == 0))
        .then(pl.col("_amount"))  # nothing is worth nothing, priced or not
        .otherwise(product(pl.col("_amount"), pl.col("price_raw")))
    )
    _check_range(priced, value, [pl.col("_amount"), pl.col("price_raw")])
    return priced.select(
        *BREAKS,
        to_decimal(value).alias("value_rc"),
        to_decimal(pl.col("price_raw")).alias("price"),
        "price_source",
        pl.col("stale").alias("price_stale"),
    )


def _check_range(frame: pl.DataFrame, value: pl.Expr, inputs: list[pl.Expr]) -> None:
    """Refuse a product beyond Decimal(38, 18) rather than report it as unknown."""
    known = pl.all_horizontal(e.is_not_null() for e in inputs)
    if frame.select((known & value.is_null()).any()).item():
        raise OverflowError("a value is beyond the range of Decimal(38, 18)")


def _value_breaks(joined: pl.DataFrame, rules: ToleranceRules) -> pl.DataFrame:
    """Breaks of value (quantity * price on each side) beyond the "value" tolerance."""
    price = pl.col("price_raw")
    # Equal quantities give equal values (the same rounding on both sides): only rows whose
    # quantities differ need their values computed.
    values = joined.filter(price.is_not_null() & (pl.col("diff_raw") != 0)).with_columns(
        product(pl.col("int_raw"), price).alias("int_value"),
        product(pl.col("ext_raw"), price).alias("ext_value"),
    )
    _check_range(values, pl.col("int_value"), [pl.col("int_raw")])
    _check_range(values, pl.col("ext_value"), [pl.col("ext_raw")])
    diff = pl.col("int_value").fill_null(0) - pl.col("ext_value").fill_null(0)
    found = with_tolerance(values.filter(diff != 0), rules, "value")
    inside = within_tolerance(
        diff, pl.col("ext_value").fill_null(0), pl.col("abs_raw"), pl.col("rel_raw")
    )
    found = found.filter(~inside)
    # Causes are found on quantities: a sign flip or decimal shift is exact there, not always
    # after rounding to 18 places.
    explained = causes.detect(found)
    valued = found.with_columns(
        pl.col("int_value").alias("int_raw"),
        pl.col("ext_value").alias("ext_raw"),
        diff.alias("diff_raw"),
    )
    return build_breaks(valued, explained, "valuation", "value")


def _price_breaks(joined: pl.DataFrame) -> pl.DataFrame:
    """One break per held asset whose price is missing (never a zero) or stale."""
    held = (pl.col("int_raw").fill_null(0) != 0) | (pl.col("ext_raw").fill_null(0) != 0)
    problem = pl.col("price_raw").is_null() | pl.col("stale").fill_null(False)
    rows = (
        joined.filter(held & problem)
        .group_by("asset")
        .agg(
            pl.col("account").unique().sort().alias("accounts"),
            pl.col("price_source").first(),
            pl.col("price_as_of").first(),
            pl.col("stale").first(),
            pl.col("price_raw").first(),
        )
    )
    cause = pl.when(pl.col("stale").fill_null(False)).then(pl.lit(causes.STALE_PRICE))
    cause = cause.otherwise(pl.lit(causes.MISSING_PRICE))
    evidence = pl.struct(
        "accounts",
        pl.col("price_as_of").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ").alias("price_as_of"),
        "price_source",
        pl.col("price_raw").is_not_null().alias("used"),
    ).struct.json_encode()
    details = pl.concat_str(pl.lit('{"causes":{"'), cause, pl.lit('":'), evidence, pl.lit("}}"))
    return rows.select(
        pl.lit("valuation").alias("type"),
        pl.concat_str(pl.lit("valuation||"), "asset", pl.lit("|price")).alias("break_key"),
        pl.lit("").alias("account"),
        "asset",
        pl.col("asset").alias("entity"),
        pl.lit("price").alias("field"),
        *(
            pl.lit(None, dtype=BREAKS[c]).alias(c)
            for c in ("internal_value", "external_value", "difference", "difference_pct")
        ),
        pl.concat_list(cause).alias("causes"),
        pl.lit(None, dtype=BREAKS["suggested_value"]).alias("suggested_value"),
        details.alias("details"),
    )


def reconcile_valuation(
    internal: pl.DataFrame,
    external: pl.DataFrame,
    prices_selected: pl.DataFrame,
    rules: ToleranceRules,
    *,
    reporting_currency: str,
) -> pl.DataFrame:
    """Valuation breaks (BREAKS, type "valuation"): values per side, and missing/stale prices."""
    joined = _with_prices(
        join_sides(internal, external).collect(), prices_selected, reporting_currency
    )
    found = pl.concat([_value_breaks(joined, rules), _price_breaks(joined).cast(BREAKS)])
    return found.sort("break_key")


def severity(values_rc: pl.Series, bands: list[Decimal]) -> pl.Series:
    """Severity per |value|: low < bands[0] <= medium < bands[1] <= high < bands[2] <= critical.

    Bands are lower-inclusive: with [100, 1000, 10000], 100 is medium and 10000 critical. An
    unknown value (null, e.g. no price) is "high": it is never silently low.
    """
    if len(bands) != len(LEVELS) - 1 or list(bands) != sorted(bands):
        raise ValueError(f"severity needs {len(LEVELS) - 1} ascending bands, got {bands}")
    size = raw(pl.col("value")).abs()
    level = pl.when(size.is_null()).then(pl.lit("high"))
    for band, name in zip(bands, LEVELS, strict=False):
        level = level.when(size < pl.lit(raw_value(band), dtype=pl.Int128)).then(pl.lit(name))
    level = level.otherwise(pl.lit(LEVELS[-1]))
    return values_rc.to_frame("value").select(level.alias("severity")).to_series()
