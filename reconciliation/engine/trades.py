"""Trade matching (SPEC 2.1): the firm's fills against the exchange's trades, exact and vectorised.

Steps, each only on rows not matched yet: (a) by id, (b) one-to-one by account/pair/side, nearest
in time with quantity and price within tolerance, (c) split fills (trade_splits.py), (d) the rest
is missing on the other side. Fields of matched trades that differ beyond tolerance are breaks.

Step a pairs an internal row with the external row whose trade id is the internal
exchange_trade_id (or, when none is booked, its own trade id). Several internal rows booking one
exchange trade id are a split in the book: one many-to-one match ("id:many-to-one", see
trade_splits.id_groups) unless one of them alone is the whole fill (the fill booked twice: the
row closest in time wins). An internal row carries one exchange id, so one-to-many is step c's.

Step b is greedy and order-independent: candidates are each row's nearest row in time on the other
side (both ways, with and without equal quantity, by account/pair/side, within the window); the
closest verified pairs win (ties by trade id), and the rest try again against what is left, up to
MAX_ROUNDS times. Limit: a row whose nearest candidates all fail the quantity/price check is not
paired with a farther row whose quantity is merely within tolerance (an equal one is found).

Money stays exact (see trade_breaks.py): Decimal(38,18) columns are compared as Int128 units.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import polars as pl

from reconciliation.engine import fees, trade_splits
from reconciliation.engine.causes import DUPLICATE, SIGN_FLIP, TIMING
from reconciliation.engine.tolerance import product, to_decimal
from reconciliation.engine.tolerance import raw as units
from reconciliation.engine.trade_breaks import (
    KEYS,
    SIDE_COLUMNS,
    TradeMatch,
    attach,
    breaks_frame,
    i128,
    json_details,
    match_details,
    match_key,
    prepare,
    tolerance_table,
    value_breaks,
    within,
)
from reconciliation.engine.types import DECIMAL, ToleranceRules

MAX_ROUNDS = 32  # vectorised rounds before finishing a greedy assignment in plain Python
DUPLICATE_WINDOW_US = 1_000_000
TIMEZONE = "timezone"
MISSING_INTERNAL, MISSING_EXTERNAL = "missing_internal", "missing_external"


# --- Matching steps ------------------------------------------------------------------------------


def _distinct(rows: pl.Series) -> bool:
    """No row number twice (a bincount: far cheaper than hashing a million rows)."""
    return rows.is_empty() or int(np.bincount(rows.to_numpy()).max()) <= 1


def one_to_one(candidates: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    """Greedy one-to-one pairs (i_row, e_row): best first by `order`; no row is used twice."""
    if _distinct(candidates["i_row"]) and _distinct(candidates["e_row"]):
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


def _id_pairs(internal: pl.DataFrame, external: pl.DataFrame, table: pl.DataFrame):
    """Step a: exchange trade id; internal rows without one fall back to their own trade id.

    One-to-one pairs (i_row, e_row, rule), and the many-to-one groups of internal rows booking one
    exchange trade in pieces (in the shape of trade_splits.match_splits).
    """
    right = external.select(e_row="_row", account="account", _id="trade_id")
    left = internal.select(i_row="_row", account="account", _x="exchange_trade_id", _t="trade_id")
    found, groups = [], pl.DataFrame(schema=trade_splits.RESULT)
    for column, rows in (("_x", pl.col("_x").is_not_null()), ("_t", pl.col("_x").is_null())):
        pairs = (
            left.filter(rows)
            .select("i_row", "account", _id=column)
            .join(right, on=["account", "_id"])
        )
        if column == "_x" and not _distinct(pairs["e_row"]):
            groups = trade_splits.id_groups(pairs, internal, external, table)
            pairs = _without(pairs, groups["internal_rows"].explode(), "i_row")
            right = _without(right, groups["external_rows"].explode(), "e_row")
        if not (_distinct(pairs["i_row"]) and _distinct(pairs["e_row"])):
            # An id booked twice: the pair closest in time wins, the rest go on to later steps.
            i_rows, e_rows = pairs["i_row"], pairs["e_row"]
            gap = internal["executed_at"].gather(i_rows) - external["executed_at"].gather(e_rows)
            ranked = pairs.with_columns(_dt=gap.abs(), _i=internal["trade_id"].gather(i_rows))
            pairs = one_to_one(ranked, ["_dt", "_i", "_id"])
        found.append(pairs.select("i_row", "e_row"))
        right = _without(right, pairs["e_row"], "e_row")
    return pl.concat(found).with_columns(rule=pl.lit("id")), groups


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
    both = attach(both, table)
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


# --- Matched trades ------------------------------------------------------------------------------


def _single_list(column: str) -> pl.Expr:
    return pl.col(column).reshape((-1, 1)).arr.to_list()  # ~50x faster than concat_list


def _pair_matches(pairs: pl.DataFrame, internal: pl.DataFrame, external: pl.DataFrame):
    """One row per one-to-one match (id or window), in the shape of trade_splits.split_matches."""
    i, e = internal[pairs["i_row"]], external[pairs["e_row"]]
    both = pl.concat([i.select("account", "base", "quote", *SIDE_COLUMNS),
                      e.select(pl.col(SIDE_COLUMNS).name.prefix("e_")), pairs.select("rule")],
                     how="horizontal")  # fmt: skip
    return both.select(
        "rule", "account", "pair", "side", "base", "quote",
        match_id=pl.concat_str("account", pl.lit("|"), "trade_id", pl.lit("|"), "e_trade_id"),
        split=pl.lit(False), external_pair="e_pair", external_side="e_side",
        internal_ids=_single_list("trade_id"), external_ids=_single_list("e_trade_id"),
        internal_quantity="quantity", external_quantity="e_quantity",
        internal_price="price", external_price="e_price",
        internal_fee="fee", external_fee="e_fee",
        internal_fee_asset="fee_asset", external_fee_asset="e_fee_asset",
        internal_time="executed_at", external_time="e_executed_at",
    )  # fmt: skip


# --- Breaks --------------------------------------------------------------------------------------


def _time_breaks(m: pl.DataFrame) -> pl.DataFrame:
    """executed_at further apart than the window: values in epoch seconds, exact to the µs."""
    us = (pl.col("internal_time") - pl.col("external_time")).dt.total_microseconds()
    f = m.filter(us.abs() > pl.col("window_us")).with_columns(_us=us.cast(pl.Int128))

    def seconds(column: str) -> pl.Expr:
        return to_decimal(pl.col(column).dt.epoch("us").cast(pl.Int128) * i128(10**12))

    zone = pl.when(pl.col("_us") % i128(900_000_000) == i128(0)).then(pl.lit(TIMEZONE))
    times = {
        k: pl.col(f"{k}_time").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ")
        for k in ("internal", "external")
    }
    return breaks_frame(
        f, type_="trades", field="executed_at", key=match_key("trades", "executed_at"),
        asset=pl.lit(""), entity=pl.col("external_ids").list.join("+"),
        internal=seconds("internal_time"), external=seconds("external_time"),
        difference=pl.col("_us") * i128(10**12), causes=[zone, pl.lit(TIMING)],
        suggested=seconds("external_time"),
        # Both sides traded the same amounts, only at another time: no amount is at stake.
        value_asset=pl.col("base"), value_amount=i128(0),
        details=match_details(None, window_us=pl.col("window_us"), internal_time=times["internal"],
                              external_time=times["external"]),
    )  # fmt: skip


def _label_breaks(m: pl.DataFrame) -> pl.DataFrame:
    """An id match whose side or pair differs (a sign flip or a mis-booked instrument)."""
    found = []
    quantity = units("internal_quantity")
    # The book holds the trade the wrong way round (twice its quantity apart), or in another
    # instrument (its whole quantity).
    worth = {"side": quantity * i128(2), "pair": quantity}
    for field, cause in (("side", SIGN_FLIP), ("pair", "pair_mismatch")):
        f = m.filter(pl.col(field) != pl.col(f"external_{field}"))
        found.append(breaks_frame(
            f, type_="trades", field=field, key=match_key("trades", field), asset=pl.lit(""),
            entity=pl.col("external_ids").list.join("+"), internal=pl.lit(None),
            external=pl.lit(None), causes=[pl.lit(cause)], suggested=pl.lit(None),
            details=match_details(None, internal=pl.col(field),
                                  external=pl.col(f"external_{field}")),
            value_asset=pl.col("base"), value_amount=worth[field],
        ))  # fmt: skip
    return pl.concat(found)


def _missing_breaks(rest: pl.DataFrame, internal_side: bool, duplicated: pl.Series):
    """Step d: a row left unmatched is missing on the other side."""
    q = units("quantity")
    key = pl.concat_str(pl.lit("trades|"), "account", pl.lit("|missing|"), "trade_id")
    cause = MISSING_EXTERNAL if internal_side else MISSING_INTERNAL
    dup = pl.when(pl.col("_row").is_in(duplicated.implode())).then(pl.lit(DUPLICATE))
    strings = ["trade_id", "order_id", "exchange_trade_id", "pair", "side", "fee_asset"]
    details = json_details(
        **{c: pl.col(c) for c in strings}, price=pl.col("price").cast(pl.String),
        fee=pl.col("fee").cast(pl.String),
        executed_at=pl.col("executed_at").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ"),
    )  # fmt: skip
    none = pl.lit(None, DECIMAL)
    return breaks_frame(
        rest, type_="trades", field="trade", key=key, asset=pl.col("base"),
        entity=pl.col("trade_id"), internal=pl.col("quantity") if internal_side else none,
        external=none if internal_side else pl.col("quantity"),
        difference=q if internal_side else i128(0) - q,
        percent_of=pl.lit(None, pl.Int128) if internal_side else q,
        causes=[pl.lit(cause), dup],
        suggested=pl.lit(Decimal(0), DECIMAL) if internal_side else pl.col("quantity"),
        details=details,
        # Worth its notional, in the quote asset (no price needed when that is the currency).
        value_asset=pl.col("quote"), value_amount=product(q, units("price")),
    )  # fmt: skip


def _duplicated_rows(rest: pl.DataFrame, full: pl.DataFrame) -> pl.Series:
    """Unmatched rows that have a twin (same fill booked twice) anywhere on their own side."""
    same = [*KEYS, "quantity", "price"]
    # Only rows of a quantity some unmatched row has can be twins: a cheap cut before the join.
    quantities = rest.select(units("quantity")).to_series().implode()
    full = full.filter(units("quantity").is_in(quantities))
    twins = rest.select("_row", "trade_id", "executed_at", *same).join(
        full.select(*same, _t="executed_at", _id="trade_id"), on=same
    )
    close = (pl.col("executed_at") - pl.col("_t")).dt.total_microseconds().abs()
    return twins.filter((close <= DUPLICATE_WINDOW_US) & (pl.col("_id") != pl.col("trade_id")))[
        "_row"
    ].unique()


def duplicates(trades: pl.DataFrame, side: str = "internal") -> pl.DataFrame:
    """Breaks (cause "duplicate") for fills that look booked twice: same account, pair, side,
    quantity and price within 1 s of the previous such fill, under another id."""
    group = [*KEYS, "quantity", "price"]
    f = prepare(trades).sort([*group, "executed_at", "trade_id"])
    gap = (
        pl.col("executed_at") - pl.col("executed_at").shift(1).over(group)
    ).dt.total_microseconds()
    f = f.with_columns(_of=pl.col("trade_id").shift(1).over(group), _gap=gap)
    f = f.filter((pl.col("_gap") <= DUPLICATE_WINDOW_US) & (pl.col("_of") != pl.col("trade_id")))
    q, internal_side = units("quantity"), side == "internal"
    none = pl.lit(None, DECIMAL)
    return breaks_frame(
        f, type_="trades", field="trade", asset=pl.col("base"), entity=pl.col("trade_id"),
        key=pl.concat_str(pl.lit("trades|"), "account", pl.lit(f"|duplicate|{side}|"), "trade_id"),
        internal=pl.col("quantity") if internal_side else none,
        external=none if internal_side else pl.col("quantity"),
        difference=q if internal_side else i128(0) - q,
        percent_of=pl.lit(None, pl.Int128) if internal_side else q,
        causes=[pl.lit(DUPLICATE)],
        suggested=pl.lit(Decimal(0), DECIMAL) if internal_side else none,
        details=json_details(trade_id=pl.col("trade_id"), duplicate_of=pl.col("_of"),
                             side=pl.lit(side), microseconds_apart=pl.col("_gap")),
    )  # fmt: skip


# --- The whole match -----------------------------------------------------------------------------

MATCH_COLUMNS = [
    "match_id", "rule", "internal_ids", "external_ids", "account", "pair", "side",
    "internal_quantity", "external_quantity", "internal_price", "external_price",
    "internal_fee", "external_fee", "internal_fee_asset", "external_fee_asset",
]  # fmt: skip


def _without(frame: pl.DataFrame, rows: pl.Series, column: str = "_row") -> pl.DataFrame:
    """`frame` without the rows numbered `rows` (a mask over row numbers, not a join)."""
    if rows.is_empty() or frame.is_empty():
        return frame
    used = np.zeros(int(max(frame[column].max(), rows.max())) + 1, dtype=bool)
    used[rows.to_numpy()] = True
    return frame.filter(~used[frame[column].to_numpy()])


def _assert_once(*rows: pl.Series) -> None:
    """The steps never reuse a row; checked on every run (an explicit raise survives -O)."""
    if not _distinct(pl.concat([r.cast(pl.UInt32) for r in rows])):
        raise AssertionError("a trade row was matched twice")


def _unique_keys(breaks: pl.DataFrame) -> pl.DataFrame:
    """Sorted breaks; a key seen twice (an id booked twice) gets #2, #3... in a stable order."""
    breaks = breaks.sort("break_key", "entity", "details")
    if breaks["break_key"].is_unique().all():
        return breaks
    seen = pl.int_range(pl.len()).over("break_key")
    suffixed = pl.concat_str("break_key", pl.lit("#"), (seen + 1).cast(pl.String))
    return breaks.with_columns(break_key=pl.when(seen > 0).then(suffixed).otherwise("break_key"))


def match_trades(
    internal: pl.DataFrame, external: pl.DataFrame, rules: ToleranceRules
) -> TradeMatch:
    """Match the firm's fills (internal) to the exchange's trades (external): matches, breaks."""
    ins, ext = prepare(internal), prepare(external)
    keys = pl.concat([f.lazy().select("account", "pair") for f in (ins, ext)]).unique().collect()
    table = tolerance_table(keys, rules)
    pairs, by_id = _id_pairs(ins, ext, table)
    rest_i = _without(ins, pl.concat([pairs["i_row"], by_id["internal_rows"].explode()]))
    rest_e = _without(ext, pl.concat([pairs["e_row"], by_id["external_rows"].explode()]))
    window = _window_pairs(rest_i, rest_e, table)
    pairs = pl.concat([pairs, window])
    rest_i, rest_e = _without(rest_i, window["i_row"]), _without(rest_e, window["e_row"])
    splits = pl.concat([by_id, trade_splits.match_splits(rest_i, rest_e, table)])
    split_i, split_e = splits["internal_rows"].explode(), splits["external_rows"].explode()
    rest_i, rest_e = _without(rest_i, split_i), _without(rest_e, split_e)
    _assert_once(pairs["i_row"], split_i)
    _assert_once(pairs["e_row"], split_e)
    m = pl.concat([_pair_matches(pairs, ins, ext), trade_splits.split_matches(splits, ins, ext)])
    m = attach(m, table)
    breaks = pl.concat([
        value_breaks(m, "trades", "quantity", "base"), value_breaks(m, "trades", "price", "quote"),
        fees.fee_breaks(m, "trades"), _time_breaks(m), _label_breaks(m),
        _missing_breaks(rest_i, True, _duplicated_rows(rest_i, ins)),
        _missing_breaks(rest_e, False, _duplicated_rows(rest_e, ext)),
    ])  # fmt: skip
    return TradeMatch(matches=m.select(MATCH_COLUMNS), breaks=_unique_keys(breaks))
