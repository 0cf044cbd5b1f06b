"""Likely causes of balance breaks, detected for all breaks at once (SPEC 2.5).

Each check is a vectorised test of one hypothesis against the break's exact difference
(internal - external, raw Int128 counts of 1e-18) and, where given, both sides' ledgers. A cause
is reported only when the evidence explains the difference exactly, and it carries that evidence
(entry ids, amounts) so a person can verify it. Without ledgers only the checks that need none
run (missing position, sign flip, decimal shift).
"""

from __future__ import annotations

import polars as pl

from reconciliation.engine.tolerance import LIMIT, raw, to_decimal
from reconciliation.engine.types import LEDGER

TIMING = "timing"
UNBOOKED_FEE = "unbooked_fee"
DECIMAL_SHIFT = "decimal_shift"
SIGN_FLIP = "sign_flip"
MISSING_DEPOSIT_WITHDRAWAL = "missing_deposit_withdrawal"
DUPLICATE = "duplicate"
MISSING_POSITION = "missing_position"
MISSING_PRICE = "missing_price"
STALE_PRICE = "stale_price"

# Most likely first: a missing row is a fact; an exact sign or power-of-ten relation is almost
# never a coincidence; then ledger evidence, from the most specific (one entry booked twice, one
# reference absent) to the most common coincidence (sums of fees, entries near the cut-off).
PRIORITY = (
    MISSING_POSITION,
    SIGN_FLIP,
    DECIMAL_SHIFT,
    DUPLICATE,
    MISSING_DEPOSIT_WITHDRAWAL,
    UNBOOKED_FEE,
    TIMING,
)
KEY = ["account", "asset"]
MAX_SHIFT = 8
CASH_MOVES = ("deposit", "withdrawal")
_OUT = {"account": pl.String, "asset": pl.String, "cause": pl.String, "evidence": pl.String}


def ledger_entries(ledger: pl.DataFrame) -> pl.LazyFrame:
    """A ledger in LEDGER types with input order `_row` and raw amount, fee, balance and net."""
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in LEDGER.items() if c not in ledger.columns]
    return (
        ledger.lazy()
        .with_row_index("_row")
        .with_columns(missing)
        .select("_row", *(pl.col(c).cast(t) for c, t in LEDGER.items()))
        .with_columns(
            raw("amount").fill_null(0).alias("amount_raw"),
            raw("fee").fill_null(0).alias("fee_raw"),
            raw("balance").alias("balance_raw"),
            pl.col("type").str.to_lowercase().fill_null("").alias("kind"),
        )
        .with_columns((pl.col("amount_raw") - pl.col("fee_raw")).alias("net_raw"))
    )


def _decimal_text(raw_expr: pl.Expr) -> pl.Expr:
    return to_decimal(raw_expr).cast(pl.String)


def _found(frame: pl.LazyFrame, cause: str, evidence: pl.Expr) -> pl.LazyFrame:
    return frame.select(*KEY, pl.lit(cause).alias("cause"), evidence.alias("evidence"))


# --- Checks that need no ledger ------------------------------------------------------------------


def _missing_position(breaks: pl.LazyFrame) -> pl.LazyFrame:
    side = (
        pl.when(pl.col("int_raw").is_null()).then(pl.lit("internal")).otherwise(pl.lit("external"))
    )
    rows = breaks.filter(pl.col("int_raw").is_null() | pl.col("ext_raw").is_null())
    return _found(
        rows, MISSING_POSITION, pl.struct(side.alias("missing_side")).struct.json_encode()
    )


def _sign_flip(breaks: pl.LazyFrame) -> pl.LazyFrame:
    i, e = pl.col("int_raw"), pl.col("ext_raw")
    return _found(breaks.filter((i + e == 0) & (i != 0)), SIGN_FLIP, pl.lit("{}"))


def _decimal_shift(breaks: pl.LazyFrame) -> pl.LazyFrame:
    """internal = external * 10**power exactly, for power in ±1..±MAX_SHIFT."""
    i, e = pl.col("int_raw"), pl.col("ext_raw")
    power = pl.when(pl.lit(False)).then(pl.lit(0))
    for k in range(1, MAX_SHIFT + 1):
        factor = 10**k
        # Bounds first: the multiplication must not wrap around Int128.
        power = power.when((e.abs() <= LIMIT // factor) & (i == e * factor)).then(pl.lit(k))
        power = power.when((i.abs() <= LIMIT // factor) & (e == i * factor)).then(pl.lit(-k))
    rows = breaks.filter((i != 0) & (e != 0)).with_columns(power.alias("_power"))
    rows = rows.filter(pl.col("_power").is_not_null())
    return _found(
        rows, DECIMAL_SHIFT, pl.struct(pl.col("_power").alias("power")).struct.json_encode()
    )


# --- Ledger checks -------------------------------------------------------------------------------


def _evidence(side: str, ids: pl.Expr, amount: pl.Expr, **extra: pl.Expr) -> pl.Expr:
    fields = {"amount": _decimal_text(amount), "entry_ids": ids, **extra, "side": pl.lit(side)}
    return pl.struct(**dict(sorted(fields.items()))).struct.json_encode()


def _running_match(entries: pl.LazyFrame, value: str, target: str, *, latest_first: bool):
    """Per key, the shortest run of entries (in time order, or latest first) summing to target."""
    ordered = entries.sort(
        [*KEY, "occurred_at", "_row"], descending=[False, False, *[latest_first] * 2]
    )
    ordered = ordered.with_columns(
        pl.col(value).cum_sum().over(KEY).alias("_run"),
        pl.int_range(pl.len()).over(KEY).alias("_pos"),
    )
    hits = (
        ordered.filter(pl.col("_run") == pl.col(target))
        .group_by(KEY)
        .agg(pl.col("_pos").min().alias("_hit"))
    )
    return (
        ordered.join(hits, on=KEY)
        .filter(pl.col("_pos") <= pl.col("_hit"))
        .group_by(KEY)
        .agg(pl.col("entry_id").sort_by("_pos").alias("_ids"), pl.col(value).sum().alias("_amount"))
    )


def _single_match(entries: pl.LazyFrame, value: str, target: str) -> pl.LazyFrame:
    hits = entries.filter(pl.col(value) == pl.col(target)).sort([*KEY, "occurred_at", "_row"])
    return hits.group_by(KEY).agg(
        pl.col("entry_id").head(1).alias("_ids"),
        pl.col(value).first().alias("_amount"),
    )


def _side_entries(entries: pl.LazyFrame, breaks: pl.LazyFrame, as_of: str) -> pl.LazyFrame:
    """The side's entries of the breaks' keys that its balance includes (at or before as_of)."""
    joined = entries.join(breaks, on=KEY, how="inner")
    cutoff = pl.col(as_of)
    return joined.filter(cutoff.is_null() | (pl.col("occurred_at") <= cutoff))


def _unbooked_fee(sides: dict, breaks: pl.LazyFrame) -> list[pl.LazyFrame]:
    """A fee (or a run of fees) one side charged that the other side never booked."""
    found = []
    for side, entries in sides.items():
        # The external side's fee missing internally leaves internal higher: diff = +fees.
        target = pl.col("diff_raw") if side == "external" else pl.col("diff_raw") * -1
        rows = (
            _side_entries(entries, breaks, f"{side[:3]}_as_of")
            .with_columns(
                pl.when(pl.col("fee_raw") != 0)
                .then(pl.col("fee_raw"))
                .when(pl.col("kind") == "fee")
                .then(pl.col("amount_raw") * -1)
                .alias("_fee"),
                target.alias("_target"),
            )
            .filter(pl.col("_fee").is_not_null() & (pl.col("_fee") != 0))
        )
        for match in (
            _single_match(rows, "_fee", "_target"),
            _running_match(rows, "_fee", "_target", latest_first=False),
            _running_match(rows, "_fee", "_target", latest_first=True),
        ):
            evidence = _evidence(side, pl.col("_ids"), pl.col("_amount"))
            found.append(_found(match, UNBOOKED_FEE, evidence))
    return found


def _timing(sides: dict, breaks: pl.LazyFrame) -> list[pl.LazyFrame]:
    """Entries booked just after one side's as_of (or between two different as_of) explain it."""
    found = []
    own_as_of = {"internal": "int_as_of", "external": "ext_as_of"}
    for side, entries in sides.items():
        other = "external" if side == "internal" else "internal"
        start = pl.coalesce(own_as_of[side], own_as_of[other])
        window = pl.duration(microseconds=pl.col("window_us"))
        end = pl.max_horizontal(start + window, pl.coalesce(own_as_of[other], own_as_of[side]))
        # Entries the other side's balance already has and this side's does not: the internal
        # side counted the external ledger's late entries (diff = +sum), or the reverse.
        target = pl.col("diff_raw") if side == "external" else pl.col("diff_raw") * -1
        rows = (
            entries.join(breaks, on=KEY, how="inner")
            .filter((pl.col("occurred_at") > start) & (pl.col("occurred_at") <= end))
            .with_columns(target.alias("_target"))
        )
        match = _running_match(rows, "net_raw", "_target", latest_first=False)
        found.append(_found(match, TIMING, _evidence(side, pl.col("_ids"), pl.col("_amount"))))
    return found


def _is_absent(entries: pl.LazyFrame, others: pl.LazyFrame) -> pl.LazyFrame:
    """Deposits/withdrawals with no counterpart by reference (by type and amount if none)."""
    moves = entries.filter(pl.col("kind").is_in(CASH_MOVES))
    by_ref = moves.filter(pl.col("reference").is_not_null()).join(
        others.filter(pl.col("reference").is_not_null()), on=[*KEY, "reference"], how="anti"
    )
    by_amount = moves.filter(pl.col("reference").is_null()).join(
        others, on=[*KEY, "kind", "amount_raw"], how="anti"
    )
    return pl.concat([by_ref, by_amount])


def _missing_move(sides: dict, breaks: pl.LazyFrame) -> list[pl.LazyFrame]:
    """One side has a deposit/withdrawal the other lacks, of exactly the difference.

    With a ledger on one side only (the book's balances against the exchange's ledger), nothing
    tells which of its moves the other side has: one move of exactly the difference is still the
    likely cause (a sum of several would too often be a coincidence), missing on the other side.
    """
    found = []
    for side, entries in sides.items():
        other = "external" if side == "internal" else "internal"
        rows = _side_entries(entries, breaks, f"{side[:3]}_as_of")
        both = other in sides
        if both:
            rows = _is_absent(rows, sides[other].select(*KEY, "reference", "kind", "amount_raw"))
        else:
            rows = rows.filter(pl.col("kind").is_in(CASH_MOVES))
        # Present only internally: internal is higher by the entry's effect (diff = +net).
        sign = 1 if side == "internal" else -1
        absent = rows.with_columns((pl.col("diff_raw") * sign).alias("_target"))
        # Sorted before nulls are dropped: sort_by needs a key as long as what it sorts.
        refs = pl.col("reference").sort_by("_row").drop_nulls()
        for value in ("net_raw", "amount_raw"):
            single = (
                absent.filter(pl.col(value) == pl.col("_target"))
                .group_by(KEY)
                .agg(
                    pl.col("entry_id").sort_by("_row").head(1).alias("_ids"),
                    pl.col(value).first().alias("_amount"),
                    refs.head(1).alias("_refs"),
                )
            )
            total = (
                absent.group_by(KEY)
                .agg(
                    pl.col("entry_id").sort_by("_row").alias("_ids"),
                    pl.col(value).sum().alias("_amount"),
                    refs.alias("_refs"),
                    pl.col("_target").first(),
                )
                .filter(pl.col("_amount") == pl.col("_target"))
            )
            for match in (single, total) if both else (single,):
                evidence = _evidence(
                    side, pl.col("_ids"), pl.col("_amount"), references=pl.col("_refs"),
                    missing_in=pl.lit(other),
                )  # fmt: skip
                found.append(_found(match, MISSING_DEPOSIT_WITHDRAWAL, evidence))
    return found


def _duplicate(entries: pl.LazyFrame, breaks: pl.LazyFrame) -> list[pl.LazyFrame]:
    """An internal entry booked twice (same reference and amount, or same amount and time)."""
    rows = _side_entries(entries, breaks, "int_as_of")
    found = []
    for keys in (["reference", "amount_raw"], ["amount_raw", "occurred_at"]):
        groups = (
            rows.filter(pl.col(keys[0]).is_not_null())
            .group_by([*KEY, *keys])
            .agg(
                pl.col("entry_id").sort_by("_row").alias("_ids"),
                pl.len().alias("_count"),
                pl.col("net_raw").first(),
                pl.col("diff_raw").first(),
            )
            .filter(pl.col("_count") > 1)
        )
        extra = (pl.col("_count") - 1).cast(pl.Int128)
        for value in ("net_raw", "amount_raw"):
            bounded = pl.col(value).abs() <= LIMIT // extra  # the product must not wrap
            match = groups.filter(bounded & (pl.col(value) * extra == pl.col("diff_raw")))
            evidence = _evidence(
                "internal", pl.col("_ids"), pl.col(value) * extra, copies=pl.col("_count")
            )
            found.append(_found(match, DUPLICATE, evidence))
    return found


def detect(
    breaks: pl.DataFrame,
    internal_ledger: pl.DataFrame | None = None,
    external_ledger: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Causes (most likely first) and their evidence (a JSON object) per (account, asset) break.

    `breaks` has account, asset, int_raw and ext_raw (null for a missing side), diff_raw,
    window_us and optionally int_as_of/ext_as_of (the time each side's balance is at).
    """
    lazy = breaks.lazy()
    for column in ("int_as_of", "ext_as_of"):
        if column not in breaks.columns:
            lazy = lazy.with_columns(pl.lit(None, dtype=LEDGER["occurred_at"]).alias(column))
    lazy = lazy.select(
        *KEY, "int_raw", "ext_raw", "diff_raw", "window_us", "int_as_of", "ext_as_of"
    )
    found = [_missing_position(lazy), _sign_flip(lazy), _decimal_shift(lazy)]
    sides = {}
    for side, ledger in (("internal", internal_ledger), ("external", external_ledger)):
        if ledger is not None:
            # Collected once: every check reads these few entries, not the whole ledger.
            entries = ledger_entries(ledger).join(lazy.select(KEY), on=KEY, how="semi")
            sides[side] = entries.collect().lazy()
    if sides:
        found += _unbooked_fee(sides, lazy) + _timing(sides, lazy) + _missing_move(sides, lazy)
    if "internal" in sides:
        found += _duplicate(sides["internal"], lazy)
    return _combine(pl.concat([f.select(*_OUT) for f in found]))


def _combine(found: pl.LazyFrame) -> pl.DataFrame:
    """One row per key: causes by priority, evidence as {"cause": evidence, ...} (first kept)."""
    rank = pl.col("cause").replace_strict(
        {c: i for i, c in enumerate(PRIORITY)}, return_dtype=pl.Int8
    )
    pair = pl.concat_str(pl.lit('"'), pl.col("cause"), pl.lit('":'), pl.col("evidence"))
    return (
        found.with_row_index("_order")
        .sort([*KEY, rank, "_order"])
        .unique([*KEY, "cause"], keep="first", maintain_order=True)
        .group_by(KEY, maintain_order=True)
        .agg(
            pl.col("cause").alias("causes"),
            pl.concat_str(pl.lit("{"), pair.str.join(","), pl.lit("}")).alias("evidence"),
        )
        .collect()
    )
