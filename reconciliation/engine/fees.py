"""Fee reconciliation (SPEC 2.1): the fee of each matched trade, and fee totals per asset.

Per matched trade the fee amounts are compared within the "fee" tolerance of its (account, pair);
a fee in another asset is a "fee_asset" break instead (amounts in different assets do not compare).
Totals sum every trade of each side, matched or not, per (account, fee asset) and use the
"fee_total" tolerance of that (account, asset), so unmatched trades' fees show up there.
"""

from __future__ import annotations

import polars as pl

from reconciliation.engine.causes import UNBOOKED_FEE
from reconciliation.engine.tolerance import raw as units
from reconciliation.engine.tolerance import raw_value, to_decimal
from reconciliation.engine.trade_breaks import (
    SPLIT_RULES,
    TradeMatch,
    attach,
    breaks_frame,
    checked,
    i128,
    json_details,
    match_details,
    match_key,
    prepare,
    split_cause,
    tolerance_table,
    value_causes,
    within,
)
from reconciliation.engine.types import DECIMAL, ToleranceRules


def fee_breaks(m: pl.DataFrame, type_: str) -> pl.DataFrame:
    """Fee and fee-asset breaks of matched trades (one row per match, with fee_abs/fee_rel)."""
    i, e = pl.col("_i"), pl.col("_e")
    assets = pl.col("internal_fee_asset"), pl.col("external_fee_asset")
    m = m.with_columns(_i=units("internal_fee"), _e=units("external_fee"))
    # Most fees agree exactly, in the same asset: cut those first, cheaply.
    m = m.filter((i != e) | assets[0].ne_missing(assets[1]))
    other_asset = ((i != i128(0)) & (e != i128(0)) & assets[0].is_not_null()
                   & assets[1].is_not_null() & (assets[0] != assets[1]))  # fmt: skip
    ids = pl.col("external_ids").list.join("+")
    asset_breaks = breaks_frame(
        m.filter(other_asset), type_=type_, field="fee_asset", key=match_key(type_, "fee_asset"),
        asset=assets[1], entity=ids, internal=pl.col("internal_fee"),
        external=pl.col("external_fee"), causes=[pl.lit("fee_asset"), split_cause()],
        suggested=pl.lit(None, DECIMAL),
        details=match_details(None, internal_fee_asset=assets[0], external_fee_asset=assets[1]),
        value_amount=e.abs(),  # the exchange's fee, in its asset, is not booked as such
    )  # fmt: skip
    amounts = m.filter(~other_asset & ~within(i - e, e, pl.col("fee_abs"), pl.col("fee_rel")))
    unbooked = pl.when((i == i128(0)) & (e != i128(0))).then(pl.lit(UNBOOKED_FEE))
    amount_breaks = breaks_frame(
        amounts, type_=type_, field="fee", key=match_key(type_, "fee"),
        asset=pl.coalesce(assets[1], assets[0], pl.lit("")), entity=ids,
        internal=to_decimal(i), external=to_decimal(e), difference=i - e, percent_of=e,
        causes=[unbooked, *value_causes(i, e), split_cause()], suggested=to_decimal(e),
        details=match_details("fee", internal_fee_asset=assets[0], external_fee_asset=assets[1]),
    )  # fmt: skip
    return pl.concat([asset_breaks, amount_breaks])


def reconcile_fees(
    match: TradeMatch, internal: pl.DataFrame, external: pl.DataFrame, rules: ToleranceRules
) -> pl.DataFrame:
    """Fee breaks (type "fees"): per matched trade, then totals per (account, fee asset)."""
    m = match.matches.with_columns(split=pl.col("rule").is_in(SPLIT_RULES))
    per_trade = fee_breaks(attach(m, tolerance_table(m, rules, ("fee",))), "fees")
    return pl.concat([per_trade, _total_breaks(match, internal, external, rules)]).sort("break_key")


def _totals(frame: pl.DataFrame, matched_ids: pl.DataFrame, prefix: str) -> pl.DataFrame:
    charged = frame.filter(units("fee") != i128(0)).with_columns(pl.col("fee_asset").fill_null(""))
    unmatched = charged.join(matched_ids, on=["account", "trade_id"], how="anti")
    totals = charged.group_by("account", "fee_asset").agg(
        pl.len().alias(f"{prefix}_trades"), units("fee").sum().alias(f"{prefix}_total")
    )
    loose = unmatched.group_by("account", "fee_asset").agg(
        units("fee").sum().alias(f"{prefix}_loose")
    )
    return totals.join(loose, on=["account", "fee_asset"], how="left")


def _matched_ids(match: TradeMatch, column: str) -> pl.DataFrame:
    ids = match.matches.select("account", trade_id=pl.col(column)).explode("trade_id")
    return ids.unique()


def _total_tolerances(keys: pl.DataFrame, rules: ToleranceRules) -> pl.DataFrame:
    rows = []
    for account, asset in keys.iter_rows():
        tolerance = checked(rules.for_key(account, asset, "fee_total"), account, asset)
        rows.append((account, asset, raw_value(tolerance.absolute), raw_value(tolerance.relative)))
    schema = {"account": pl.String, "fee_asset": pl.String, "_abs": pl.Int128, "_rel": pl.Int128}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _total_breaks(match, internal, external, rules) -> pl.DataFrame:
    """Fee totals per (account, fee asset) over all trades of each side ("fee_total")."""
    ins = _totals(prepare(internal), _matched_ids(match, "internal_ids"), "i")
    ext = _totals(prepare(external), _matched_ids(match, "external_ids"), "e")
    both = ins.join(ext, on=["account", "fee_asset"], how="full", coalesce=True)
    both = both.join(_total_tolerances(both.select("account", "fee_asset"), rules),
                     on=["account", "fee_asset"])  # fmt: skip
    zero = i128(0)
    i, e = pl.col("i_total").fill_null(zero), pl.col("e_total").fill_null(zero)
    f = both.filter(~within(i - e, e, pl.col("_abs"), pl.col("_rel")))
    loose = (pl.col("i_loose").fill_null(zero) != zero) | (
        pl.col("e_loose").fill_null(zero) != zero
    )
    counts = {f"{s}_trades": pl.col(f"{s}_trades").fill_null(0) for s in ("i", "e")}
    return breaks_frame(
        f, type_="fees", field="fee_total",
        key=pl.concat_str(pl.lit("fees|"), "account", pl.lit("|"), "fee_asset", pl.lit("|total")),
        asset=pl.col("fee_asset"), entity=pl.col("fee_asset"),
        internal=to_decimal(pl.col("i_total")), external=to_decimal(pl.col("e_total")),
        difference=i - e, percent_of=e,
        causes=[pl.when((i == zero) & (e != zero)).then(pl.lit(UNBOOKED_FEE)),
                pl.when(loose).then(pl.lit("missing_trade")), *value_causes(i, e)],
        suggested=to_decimal(e),
        details=json_details(
            internal_trades=counts["i_trades"], external_trades=counts["e_trades"],
            unmatched_internal_fees=to_decimal(pl.col("i_loose").fill_null(zero)).cast(pl.String),
            unmatched_external_fees=to_decimal(pl.col("e_loose").fill_null(zero)).cast(pl.String),
            tolerance_abs=to_decimal(pl.col("_abs")).cast(pl.String),
            tolerance_rel=to_decimal(pl.col("_rel")).cast(pl.String),
        ),
    )  # fmt: skip
