"""Position and cash balance reconciliation: book vs exchange per (account, asset), exactly.

Quantities are compared as raw Int128 counts of 1e-18 (see tolerance.py), so an 18-place
difference is found with zero tolerance, and nothing is ever a float.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from reconciliation.engine import causes
from reconciliation.engine.tolerance import (
    raw,
    rule_details,
    to_decimal,
    with_quotient,
    with_tolerance,
    within_tolerance,
)
from reconciliation.engine.types import BALANCES, TIME, ToleranceRules
from reconciliation.importers.assets import KRAKEN_WALLET_SUFFIX

KEY = ["account", "asset"]
_WALLET = [*KEY, "wallet"]


def with_wallet_assets(ledger: pl.DataFrame) -> pl.DataFrame:
    """Earn-wallet entries count towards the suffixed asset (DOT in earn / bonded is DOT.S)."""
    suffix = pl.col("wallet").replace_strict(KRAKEN_WALLET_SUFFIX, default="")
    already = pl.col("asset").str.contains(".", literal=True)
    return ledger.with_columns(
        asset=pl.when(already).then(pl.col("asset")).otherwise(pl.col("asset") + suffix)
    )


def balances_from_ledger(ledger: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The balances a ledger export implies at `as_of` (BALANCES plus an `as_of` column)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (times are UTC)")
    entries = causes.ledger_entries(ledger).filter(pl.col("occurred_at") <= as_of)
    # Stable sort: entries at the same time stay in file order, so "last" is the file's last.
    wallets = (
        entries.sort("occurred_at", "_row")
        .group_by(_WALLET)
        .agg(
            pl.col("balance_raw").last().alias("_last"),
            pl.col("net_raw").sum().alias("_sum"),
        )
        .select(*KEY, pl.coalesce("_last", "_sum").alias("_raw"))
    )
    return (
        wallets.group_by(KEY)
        .agg(pl.col("_raw").sum())
        .select(
            *KEY,
            to_decimal(pl.col("_raw")).alias("quantity"),
            pl.lit(as_of).cast(TIME).alias("as_of"),
        )
        .sort(KEY)
        .collect()
    )


def _side(frame: pl.DataFrame, name: str) -> pl.LazyFrame:
    """One side summed per (account, asset) (rows per wallet add up), with its latest as_of."""
    aggregates = [raw("quantity").sum().alias(f"{name}_raw")]
    if "as_of" in frame.columns:
        aggregates.append(pl.col("as_of").cast(TIME).max().alias(f"{name}_as_of"))
    typed = frame.lazy().with_columns(pl.col(c).cast(t) for c, t in BALANCES.items())
    return typed.group_by(KEY).agg(aggregates)


def join_sides(internal: pl.DataFrame, external: pl.DataFrame) -> pl.LazyFrame:
    """Both sides per (account, asset): int_raw/ext_raw (null where missing), diff_raw, as_of."""
    joined = _side(internal, "int").join(_side(external, "ext"), on=KEY, how="full", coalesce=True)
    diff = pl.col("int_raw").fill_null(0) - pl.col("ext_raw").fill_null(0)
    return joined.with_columns(diff.alias("diff_raw"))


def differing_sides(internal: pl.DataFrame, external: pl.DataFrame) -> pl.DataFrame:
    """The rows of `join_sides` whose diff_raw is not 0 (in another order), collected.

    Joining two million-row frames on two string columns costs most of a run, so when each side
    has one row per (account, asset), no null key and a compact key space, both keys become exact
    integers (dictionary codes of both sides together) and rows are paired through a slot table
    (scatter and gather, no hash join); anything else takes the general join.
    """
    typed = [
        f.with_columns(pl.col(c).cast(t) for c, t in BALANCES.items()) for f in (internal, external)
    ]
    paired = _paired(*typed)
    if paired is None:
        return join_sides(internal, external).filter(pl.col("diff_raw") != 0).collect()
    (internal, external), (matched, only_external) = typed, paired
    quantity = [f.select(raw("quantity").fill_null(0)).to_series() for f in typed]
    theirs = quantity[1].gather(matched)
    diff = quantity[0] - theirs.fill_null(0)
    rows = (diff != 0).arg_true()
    ext_rows = (only_external & (quantity[1] != 0)).arg_true()
    ours = (
        internal[rows]
        .select(KEY)
        .with_columns(
            quantity[0].gather(rows).alias("int_raw"),
            *_as_of(internal, rows, "int"),
            theirs.gather(rows).alias("ext_raw"),
            *_as_of(external, matched.gather(rows), "ext"),
            diff.gather(rows).alias("diff_raw"),
        )
    )
    extra = (
        external[ext_rows]
        .select(KEY)
        .with_columns(
            pl.lit(None, dtype=pl.Int128).alias("int_raw"),
            *(pl.lit(None, dtype=TIME).alias("int_as_of") for _ in _as_of(internal, rows, "int")),
            quantity[1].gather(ext_rows).alias("ext_raw"),
            *_as_of(external, ext_rows, "ext"),
        )
        .with_columns((pl.lit(0, dtype=pl.Int128) - pl.col("ext_raw")).alias("diff_raw"))
    )
    return pl.concat([ours, extra])


def _as_of(frame: pl.DataFrame, rows: pl.Series, name: str) -> list[pl.Series]:
    if "as_of" not in frame.columns:
        return []
    return [frame["as_of"].cast(TIME).gather(rows).alias(f"{name}_as_of")]


def _paired(internal: pl.DataFrame, external: pl.DataFrame) -> tuple | None:
    """(external row per internal row or null, external rows without an internal one), or None.

    None when a side is empty, has a null key or a repeated key, or the key space is too sparse
    for a slot table; the caller then joins in general.
    """
    sizes = internal.height, external.height
    if not all(sizes) or any(f[c].null_count() for f in (internal, external) for c in KEY):
        return None
    # One fresh dictionary per column over both sides: equal codes are equal strings, exactly.
    codes = pl.concat([internal.select(KEY), external.select(KEY)]).select(
        pl.col(c).cast(pl.Categorical(pl.Categories.random())).to_physical().cast(pl.UInt64)
        for c in KEY
    )
    assets = int(codes["asset"].max()) + 1
    cells = (int(codes["account"].max()) + 1) * assets
    if cells > max(4 * sum(sizes), 1 << 16):
        return None
    key = codes["account"] * assets + codes["asset"]
    keys = key[: sizes[0]], key[sizes[0] :]
    slots = []
    for side_keys, size in zip(keys, sizes, strict=True):
        rows = pl.int_range(size, dtype=pl.UInt32, eager=True)
        slot = pl.repeat(None, cells, dtype=pl.UInt32, eager=True).scatter(side_keys, rows)
        if not (slot.gather(side_keys) == rows).all():  # a key repeats: rows must be summed
            return None
        slots.append(slot)
    return slots[1].gather(keys[0]), slots[0].gather(keys[1]).is_null()


def reconcile_balances(
    internal: pl.DataFrame,
    external: pl.DataFrame,
    rules: ToleranceRules,
    *,
    type: str = "position",
    internal_ledger: pl.DataFrame | None = None,
    external_ledger: pl.DataFrame | None = None,
    time_window: timedelta | None = None,
) -> pl.DataFrame:
    """Balance breaks (BREAKS) between the book and an exchange, beyond tolerance."""
    candidates = differing_sides(internal, external)
    # Tolerances are resolved only for keys that differ at all: usually a tiny share.
    candidates = with_tolerance(candidates, rules, "quantity")
    if time_window is not None:
        candidates = candidates.with_columns(
            pl.lit(time_window // timedelta(microseconds=1)).alias("window_us")
        )
    inside = within_tolerance(
        pl.col("diff_raw"), pl.col("ext_raw").fill_null(0), pl.col("abs_raw"), pl.col("rel_raw")
    )
    found = candidates.filter(~inside)
    explained = causes.detect(found, internal_ledger, external_ledger)
    return build_breaks(found, explained, type, "quantity")


def build_breaks(
    found: pl.DataFrame, explained: pl.DataFrame, type: str, field: str
) -> pl.DataFrame:
    """BREAKS from raw int_raw/ext_raw/diff_raw/abs_raw/rel_raw columns and detected causes."""
    found = with_quotient(found, "diff_raw", "ext_raw", "pct_raw", shift=2)
    found = found.join(explained, on=KEY, how="left")
    key = pl.concat_str(pl.lit(f"{type}|"), "account", pl.lit("|"), "asset", pl.lit(f"|{field}"))
    details = pl.concat_str(
        pl.lit('{"causes":'),
        pl.col("evidence").fill_null("{}"),
        pl.lit(',"rule":'),
        rule_details(pl.col("abs_raw"), pl.col("rel_raw")),
        pl.lit("}"),
    )
    return found.select(
        pl.lit(type).alias("type"),
        key.alias("break_key"),
        *KEY,
        pl.col("asset").alias("entity"),
        pl.lit(field).alias("field"),
        to_decimal(pl.col("int_raw")).alias("internal_value"),
        to_decimal(pl.col("ext_raw")).alias("external_value"),
        to_decimal(pl.col("diff_raw")).alias("difference"),
        to_decimal(pl.col("pct_raw")).alias("difference_pct"),
        pl.col("causes").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        # What the book should say: the exchange's figure (0 when it has no row).
        to_decimal(pl.col("ext_raw").fill_null(0)).alias("suggested_value"),
        details.alias("details"),
    ).sort("break_key")


def _running(ledger: pl.DataFrame, account: str, asset: str) -> pl.DataFrame:
    """The (account, asset) balance after each instant: time, entry ids then, balance."""
    entries = causes.ledger_entries(ledger).filter(
        (pl.col("account") == account) & (pl.col("asset") == asset)
    )
    # Per wallet, the stated balance if the entry has one, else the running net sum; the
    # account's balance moves by each wallet's change, in time then file order.
    ordered = entries.sort("occurred_at", "_row").with_columns(
        pl.coalesce("balance_raw", pl.col("net_raw").cum_sum().over("wallet")).alias("_wallet")
    )
    change = pl.col("_wallet") - pl.col("_wallet").shift(1).over("wallet").fill_null(0)
    return (
        ordered.with_columns(change.cum_sum().alias("_total"))
        .group_by("occurred_at", maintain_order=True)
        .agg(pl.col("entry_id"), pl.col("_total").last())
        .collect()
    )


def where_divergence_started(
    internal_ledger: pl.DataFrame, external_ledger: pl.DataFrame, account: str, asset: str
) -> dict | None:
    """The first instant from which the two running balances never agree again, or None."""
    sides = {
        "internal": _running(internal_ledger, account, asset),
        "external": _running(external_ledger, account, asset),
    }
    times = sorted(set(sides["internal"]["occurred_at"]) | set(sides["external"]["occurred_at"]))
    if not times:
        return None
    timeline = pl.DataFrame({"occurred_at": times}, schema={"occurred_at": TIME})
    for side, running in sides.items():
        timeline = timeline.join(
            running, on="occurred_at", how="left", maintain_order="left"
        ).rename({"entry_id": f"{side}_ids", "_total": f"{side}_raw"})
        # Between its own entries a side's balance stays at its last value (0 before the first).
        timeline = timeline.with_columns(pl.col(f"{side}_raw").forward_fill().fill_null(0))
    timeline = timeline.with_columns(
        (pl.col("internal_raw") != pl.col("external_raw")).alias("_differs")
    )
    differs = timeline["_differs"].to_list()
    if not differs[-1]:
        return None
    # A transient difference (one side booked a few seconds later) is not where it started:
    # the answer is the start of the final stretch in which the balances always differ.
    start = len(differs) - 1
    while start > 0 and differs[start - 1]:
        start -= 1
    row = timeline.row(start, named=True)
    values = timeline.select(to_decimal(pl.col("internal_raw")), to_decimal(pl.col("external_raw")))
    internal_balance, external_balance = values.row(start)
    return {
        "account": account,
        "asset": asset,
        "occurred_at": row["occurred_at"],
        "internal_entry_ids": row["internal_ids"] or [],
        "external_entry_ids": row["external_ids"] or [],
        "internal_balance": internal_balance,
        "external_balance": external_balance,
        "difference": internal_balance - external_balance,
    }
