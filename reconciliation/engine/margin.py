"""Margin reconciliation: collateral, used margin and open margin positions, book vs exchange.

A margin dataset holds snapshots: per (account, asset) each side's latest snapshot (at or before
the run's as-of time, when one is given) is compared, its rows summed should a source send
several rows for one moment. Each field is compared on its own, as raw Int128 counts of 1e-18
(see tolerance.py), within the tolerance the rules give that field: one break per (account,
asset, field) beyond tolerance. All three fields are amounts or quantities of the row's asset,
so a break's `asset` is the row's asset and the run can value it with that asset's price.
Nothing is ever a float.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from reconciliation.engine import causes
from reconciliation.engine.balances import KEY, build_breaks
from reconciliation.engine.tolerance import SCALE, raw, to_decimal, with_tolerance, within_tolerance
from reconciliation.engine.types import MARGIN, ToleranceRules

TYPE = "margin"
FIELDS = ("collateral", "used_margin", "open_position")
# Columns an input may leave out: no open positions, or no snapshot time (then no timing check).
_OPTIONAL = ("open_position", "as_of")
_MICROS_PER_SECOND = 10**6


def _typed(frame: pl.DataFrame) -> pl.LazyFrame:
    """The frame in MARGIN types, a missing optional column added as nulls."""
    missing = [pl.lit(None, dtype=MARGIN[c]).alias(c) for c in _OPTIONAL if c not in frame.columns]
    return (
        frame.lazy()
        .with_columns(missing)
        .with_columns(pl.col(c).cast(t) for c, t in MARGIN.items())
    )


def _side(frame: pl.DataFrame, name: str, as_of: datetime | None) -> pl.LazyFrame:
    """One side's latest snapshot per (account, asset): raw `{name}_{field}`, `{name}_as_of`."""
    typed = _typed(frame)
    if as_of is not None:
        typed = typed.filter(pl.col("as_of").is_null() | (pl.col("as_of") <= as_of))
    # Earlier snapshots of a key are history, not more collateral: only the latest counts.
    latest_only = typed.filter(
        pl.col("as_of").eq_missing(pl.col("as_of").max().over(KEY))
        | pl.col("as_of").max().over(KEY).is_null()
    )
    # A null open_position means no open position; a present key therefore never sums to null,
    # so null after the join means only "this side has no row for the key".
    sums = [raw(f).fill_null(0).sum().alias(f"{name}_{f}") for f in FIELDS]
    latest = pl.col("as_of").max().alias(f"{name}_as_of")
    return latest_only.group_by(KEY).agg(*sums, latest)


def join_margin(
    internal: pl.DataFrame, external: pl.DataFrame, as_of: datetime | None = None
) -> pl.DataFrame:
    """Both sides per (account, asset): int_/ext_ per field (raw, null where missing), as_of."""
    joined = _side(internal, "int", as_of).join(
        _side(external, "ext", as_of), on=KEY, how="full", coalesce=True
    )
    return joined.collect()


def _candidates(joined: pl.DataFrame, field: str) -> pl.DataFrame:
    """The keys whose `field` differs at all, in the int_raw/ext_raw/diff_raw shape of balances."""
    internal, external = pl.col(f"int_{field}"), pl.col(f"ext_{field}")
    difference = internal.fill_null(0) - external.fill_null(0)
    return joined.select(
        *KEY,
        internal.alias("int_raw"),
        external.alias("ext_raw"),
        difference.alias("diff_raw"),
        "int_as_of",
        "ext_as_of",
    ).filter(pl.col("diff_raw") != 0)


def _seconds(micros: pl.Expr) -> pl.Expr:
    """Microseconds as an exact decimal string of seconds."""
    return to_decimal(micros.cast(pl.Int128) * (SCALE // _MICROS_PER_SECOND)).cast(pl.String)


def _iso(column: str) -> pl.Expr:
    return pl.col(column).dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ")


def _timing(found: pl.DataFrame) -> pl.DataFrame:
    """Keys whose two snapshots are further apart than the field's time window, with evidence.

    Without ledgers this cannot show which movements fall between the snapshots, only that the
    sides describe different moments, so a person knows to compare them at one time first.
    """
    apart = (pl.col("int_as_of") - pl.col("ext_as_of")).abs().dt.total_microseconds()
    evidence = pl.struct(
        apart_seconds=_seconds(apart),
        external_as_of=_iso("ext_as_of"),
        internal_as_of=_iso("int_as_of"),
        time_window_seconds=_seconds(pl.col("window_us")),
    ).struct.json_encode()
    # A missing as_of gives a null distance, which the filter drops: no evidence, no cause.
    return found.filter(apart > pl.col("window_us")).select(*KEY, evidence.alias("_timing"))


def _explain(found: pl.DataFrame) -> pl.DataFrame:
    """Causes and evidence per key: the ledger-free detectors, then timing (the least likely)."""
    explained = causes.detect(found, None, None).join(
        _timing(found), on=KEY, how="full", coalesce=True
    )
    has_timing = pl.col("_timing").is_not_null()
    listed = pl.col("causes").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    # detect's evidence is one JSON object {"cause": evidence, ...}; timing joins it as a key.
    members = pl.concat_str(
        pl.col("evidence").str.strip_prefix("{").str.strip_suffix("}"),
        pl.concat_str(pl.lit(f'"{causes.TIMING}":'), pl.col("_timing")),
        separator=",",
        ignore_nulls=True,
    )
    return explained.select(
        *KEY,
        pl.when(has_timing)
        .then(pl.concat_list(listed, pl.lit(causes.TIMING)))
        .otherwise(listed)
        .alias("causes"),
        pl.concat_str(pl.lit("{"), members, pl.lit("}")).alias("evidence"),
    )


def _field_breaks(joined: pl.DataFrame, rules: ToleranceRules, field: str) -> pl.DataFrame:
    # Tolerances are resolved only for keys that differ at all: usually a tiny share.
    candidates = with_tolerance(_candidates(joined, field), rules, field)
    inside = within_tolerance(
        pl.col("diff_raw"), pl.col("ext_raw").fill_null(0), pl.col("abs_raw"), pl.col("rel_raw")
    )
    found = candidates.filter(~inside)
    return build_breaks(found, _explain(found), TYPE, field)


def reconcile_margin(
    internal: pl.DataFrame,
    external: pl.DataFrame,
    rules: ToleranceRules,
    *,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """Margin breaks (BREAKS, type "margin") per (account, asset, field), sorted by break_key.

    `as_of`: snapshots taken after it are left out (a run never looks ahead).
    """
    joined = join_margin(internal, external, as_of)
    found = [_field_breaks(joined, rules, field) for field in FIELDS]
    return pl.concat(found).sort("break_key")
