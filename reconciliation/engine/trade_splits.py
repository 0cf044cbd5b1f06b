"""Split fills (SPEC 2.1): one row against several rows on the other side.

By id (step a of trade matching, `id_groups`): internal rows that all book one exchange trade id
are one many-to-one match with it, their summed quantity and fee and VWAP compared to it.

By time (step c, `match_splits`), among rows left unmatched by steps a and b:

One-to-many (one internal fill, several exchange trades) runs first, then many-to-one on what is
left. A group is: one single row and a run of rows on the other side with the same account, pair
and side, each within the time window of the single row, order ids equal wherever both rows carry
one (and at most one order id among the run), summed quantity within quantity tolerance of the
single row and quantity-weighted average price (VWAP) within price tolerance.

Greedy and deterministic: single rows are served in time order (ties by trade id, then row); each
takes its best run (smallest quantity difference, then fewest rows, then earliest) among rows not
used yet. Candidates, runs and quantity checks are vectorised; only runs that pass the quantity
check reach the exact VWAP check and the greedy pass in Python.

Limits, to stay near linear: a run is consecutive in time among the other side's unmatched rows
near the single row (an unrelated unmatched fill in between breaks it), and only the
MAX_CANDIDATES rows nearest in time to the single row are considered; many-to-many is not tried.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import polars as pl

from reconciliation.engine.tolerance import raw as units
from reconciliation.engine.tolerance import to_decimal
from reconciliation.engine.trade_breaks import KEYS, SIDE_COLUMNS, attach, i128, within
from reconciliation.engine.types import DECIMAL

MAX_CANDIDATES = 16
_PLACE = Decimal(1).scaleb(-18)
RESULT = {
    "rule": pl.String, "internal_rows": pl.List(pl.UInt32), "external_rows": pl.List(pl.UInt32),
    "internal_price": DECIMAL, "external_price": DECIMAL,
}  # fmt: skip


def id_groups(pairs: pl.DataFrame, internal, external, table: pl.DataFrame) -> pl.DataFrame:
    """Many-to-one matches by id among `pairs` (i_row, e_row joined on the exchange trade id).

    An external row is claimed by a group when several internal rows claim it and nothing else
    (its trade id is unique on the exchange side), all on one pair and side, and their quantities
    sum to it within tolerance, or none of them alone is within tolerance of it (the sum's
    difference is then a split_fill break). Otherwise one of them alone is the whole fill and the
    rest booked it again: left to the one-to-one pass. Vectorised but for the exact VWAP.
    """
    shared = pairs.filter((pl.len().over("e_row") > 1) & (pl.len().over("i_row") == 1))
    if shared.is_empty():
        return pl.DataFrame(schema=RESULT)
    i_rows, e_rows = shared["i_row"], shared["e_row"]
    members = pl.concat([
        shared.select("i_row", "e_row", "account"),
        internal.select("trade_id", "executed_at", "side", "price", _pair="pair",
                        _q=units("quantity"))[i_rows],
        external.select("pair", _eq=units("quantity"), _price="price")[e_rows],
    ], how="horizontal")  # fmt: skip
    members = attach(members, table).sort("e_row", "executed_at", "trade_id")
    quantity = pl.col("quantity_abs").first(), pl.col("quantity_rel").first()
    groups = members.group_by("e_row").agg(
        pl.col("i_row"), qs="_q", prices="price", total=pl.col("_q").sum(),
        external=pl.col("_eq").first(), external_price=pl.col("_price").first(),
        piece=within(pl.col("_q") - pl.col("_eq"), pl.col("_eq"), *quantity).any(),
        whole=within(pl.col("_q").sum() - pl.col("_eq").first(), pl.col("_eq").first(),
                     *quantity),
        labels=(pl.col("_pair").n_unique() == 1) & (pl.col("side").n_unique() == 1),
    ).sort("e_row")  # fmt: skip
    groups = groups.filter(
        pl.col("labels") & (pl.col("total") != i128(0)) & (pl.col("whole") | ~pl.col("piece"))
    )
    with localcontext(prec=120):  # exact: products of two 38-digit numbers fit
        vwaps = [
            _vwap(qs, prices)
            for qs, prices in zip(groups["qs"].to_list(), groups["prices"].to_list(), strict=True)
        ]
    return groups.select(
        rule=pl.lit("id:many-to-one"), internal_rows="i_row",
        external_rows=pl.col("e_row").reshape((-1, 1)).arr.to_list(),
        internal_price=pl.Series(vwaps, dtype=DECIMAL), external_price="external_price",
    ).cast(RESULT)  # fmt: skip


def _vwap(qs: list[int], prices: list[Decimal]) -> Decimal:
    """sum(q * price) / sum(q) rounded half-even to 18 places (q raw; the sum not 0; prec 120)."""
    notional = sum(q * p for q, p in zip(qs, prices, strict=True))
    return (notional / sum(qs)).quantize(_PLACE, rounding=ROUND_HALF_EVEN)


def match_splits(internal: pl.DataFrame, external: pl.DataFrame, table: pl.DataFrame):
    """Split matches among unmatched rows: rule, internal_rows, external_rows, prices (VWAP)."""
    one = _splits(internal, external, table, single_internal=True)
    internal = internal.join(one.select(_row=pl.col("internal_rows").list.first()), on="_row",
                             how="anti")  # fmt: skip
    external = external.join(one.select(_row="external_rows").explode("_row"), on="_row",
                             how="anti")  # fmt: skip
    many = _splits(external, internal, table, single_internal=False)
    return pl.concat([one, many])


def _candidates(singles: pl.DataFrame, pieces: pl.DataFrame, table: pl.DataFrame):
    """Rows of the other side near each single row, in time order, with running quantity totals."""

    def shape(frame: pl.DataFrame, p: str) -> pl.DataFrame:
        return frame.select(
            *KEYS, pl.col("_row").alias(f"{p}_row"), pl.col("trade_id").alias(f"{p}_id"),
            pl.col("executed_at").dt.epoch("us").alias(f"{p}_t"),
            pl.col("order_id").alias(f"{p}_order"), units("quantity").alias(f"{p}_q"),
            pl.col("price").alias(f"{p}_price"),
        )  # fmt: skip

    s = attach(shape(singles, "s"), table)
    p = attach(shape(pieces, "p"), table.select("account", "pair", "window_us"))
    # Time buckets one window wide: a row within the window of another is in an adjacent bucket.
    width = pl.max_horizontal(pl.col("window_us"), pl.lit(1))
    s = s.with_columns(_b=pl.col("s_t") // width)
    near = s.with_columns(_b=pl.concat_list(pl.col("_b") - 1, "_b", pl.col("_b") + 1)).explode("_b")
    near = near.join(p.with_columns(_b=pl.col("p_t") // width).drop("window_us"), on=[*KEYS, "_b"])
    orders = pl.col("s_order").is_null() | pl.col("p_order").is_null()
    near = near.filter(((pl.col("p_t") - pl.col("s_t")).abs() <= pl.col("window_us"))
                       & (orders | (pl.col("s_order") == pl.col("p_order"))))  # fmt: skip
    near = near.with_columns(_dt=(pl.col("p_t") - pl.col("s_t")).abs())
    near = near.sort("s_row", "_dt", "p_t", "p_id", "p_row")
    near = near.filter(pl.int_range(pl.len()).over("s_row") < MAX_CANDIDATES)
    near = near.sort("s_row", "p_t", "p_id", "p_row")
    return s.drop("_b"), near.with_columns(
        pos=pl.int_range(pl.len()).over("s_row"), cum=pl.col("p_q").cum_sum().over("s_row")
    )


def _runs(s: pl.DataFrame, near: pl.DataFrame, single_internal: bool) -> pl.DataFrame:
    """Consecutive runs of two or more candidates whose total quantity is within tolerance."""
    starts = near.select("s_row", a="pos", before=pl.col("cum") - pl.col("p_q"))
    ends = near.select("s_row", b="pos", cum="cum")
    runs = starts.join(ends, on="s_row").filter(pl.col("b") > pl.col("a"))
    runs = runs.with_columns(total=pl.col("cum") - pl.col("before")).join(s, on="s_row")
    # internal - external, and the external value the relative tolerance applies to.
    if single_internal:
        diff, ext = pl.col("s_q") - pl.col("total"), pl.col("total")
    else:
        diff, ext = pl.col("total") - pl.col("s_q"), pl.col("s_q")
    ok = within(diff, ext, pl.col("quantity_abs"), pl.col("quantity_rel"))
    return runs.filter(ok).with_columns(_adiff=diff.abs(), _len=pl.col("b") - pl.col("a"))


def _splits(singles, pieces, table, single_internal: bool) -> pl.DataFrame:
    if singles.is_empty() or pieces.is_empty():
        return pl.DataFrame(schema=RESULT)
    s, near = _candidates(singles, pieces, table)
    runs = _runs(s, near, single_internal)
    if runs.is_empty():
        return pl.DataFrame(schema=RESULT)
    members = runs.select("s_row", "a", "b").join(near, on="s_row")
    members = members.filter(pl.col("pos").is_between("a", "b")).sort("s_row", "a", "b", "pos")
    members = members.group_by("s_row", "a", "b", maintain_order=True).agg(
        rows="p_row", qs="p_q", prices="p_price", orders="p_order"
    )
    runs = runs.join(members, on=["s_row", "a", "b"]).sort(
        "s_t", "s_id", "s_row", "_adiff", "_len", "a"
    )
    runs = runs.with_columns(to_decimal(pl.col(c)).alias(c) for c in ("price_abs", "price_rel"))
    return _greedy(runs, single_internal)


def _greedy(runs: pl.DataFrame, single_internal: bool) -> pl.DataFrame:
    """Serve single rows in time order, each with its best run whose rows are all still free."""
    served, used, chosen, vwaps = set(), set(), [], []
    columns = ["s_row", "s_price", "rows", "qs", "prices", "orders", "price_abs", "price_rel"]
    with localcontext(prec=120):  # exact: products of two 38-digit numbers fit
        for k, (s_row, price, rows, qs, prices, orders, absolute, relative) in enumerate(
            zip(*(runs[c].to_list() for c in columns), strict=True)
        ):
            if s_row in served or used.intersection(rows):
                continue
            if len({o for o in orders if o is not None}) > 1:
                continue
            vwap = _vwap_within(qs, prices, price, absolute, relative, single_internal)
            if vwap is None:
                continue
            served.add(s_row)
            used.update(rows)
            chosen.append(k)
            vwaps.append(vwap)
    picked = runs[chosen].with_columns(vwap=pl.Series(vwaps, dtype=DECIMAL))
    single, many = pl.col("s_row").reshape((-1, 1)).arr.to_list(), pl.col("rows")
    rule = "split:one-to-many" if single_internal else "split:many-to-one"
    return picked.select(
        rule=pl.lit(rule),
        internal_rows=single if single_internal else many,
        external_rows=many if single_internal else single,
        internal_price="s_price" if single_internal else "vwap",
        external_price="vwap" if single_internal else "s_price",
    ).cast(RESULT)


def _vwap_within(qs, prices, price, absolute, relative, single_internal) -> Decimal | None:
    """The run's VWAP (rounded to 18 places) if within price tolerance of `price`, else None."""
    total = sum(qs)
    if total <= 0:
        return None
    notional = sum(q * p for q, p in zip(qs, prices, strict=True))
    # |notional/total - price| <= max(abs, rel * |external price|), both sides times total > 0;
    # quantities are raw (1e-18 units) on both sides, so the scale cancels out.
    external = abs(notional) if single_internal else abs(price) * total
    limit = max(absolute * total, relative * external)
    if abs(notional - price * total) > limit:
        return None
    return _vwap(qs, prices)


# --- Split matches in the shape of trades._pair_matches ------------------------------------------


def _matched_side(splits: pl.DataFrame, rows: str, frame: pl.DataFrame) -> pl.DataFrame:
    exploded = splits.select(pl.int_range(pl.len()).alias("_m"), rows).explode(rows)
    columns = ["account", *SIDE_COLUMNS, "base", "quote"]
    joined = pl.concat([exploded.select("_m"), frame.select(columns)[exploded[rows]]],
                       how="horizontal").sort("_m", "executed_at", "trade_id")  # fmt: skip
    charged = pl.col("fee_asset").filter(units("fee") != i128(0))
    grouped = joined.group_by("_m", maintain_order=True).agg(
        pl.col("account", "pair", "side", "base", "quote").first(), ids=pl.col("trade_id"),
        quantity=units("quantity").sum(), fee=units("fee").sum(), fee_asset=charged,
        first=pl.col("executed_at").min(), last=pl.col("executed_at").max(),
    )  # fmt: skip
    return grouped.with_columns(
        to_decimal(pl.col("quantity")), to_decimal(pl.col("fee")),
        pl.col("fee_asset").list.unique().list.sort().list.join(","),
    )  # fmt: skip


def split_matches(splits: pl.DataFrame, internal: pl.DataFrame, external: pl.DataFrame):
    """One row per split match: quantities and fees summed, VWAP price on the many side.

    Its times are the internal and external rows furthest apart (splits by time are all within
    the window; the pieces of an id group need not be).
    """
    i = _matched_side(splits, "internal_rows", internal)
    e = _matched_side(splits, "external_rows", external).select(pl.all().name.prefix("e_"))
    both = pl.concat([i, e, splits.select("rule", "internal_price", "external_price")],
                     how="horizontal")  # fmt: skip
    ids = [pl.col(c).list.join("+") for c in ("ids", "e_ids")]
    early = (pl.col("first") - pl.col("e_last")).abs() >= (pl.col("last") - pl.col("e_first")).abs()
    return both.select(
        "rule", "account", "pair", "side", "base", "quote",
        match_id=pl.concat_str("account", pl.lit("|"), ids[0], pl.lit("|"), ids[1]),
        split=pl.lit(True), external_pair="e_pair", external_side="e_side",
        internal_ids="ids", external_ids="e_ids",
        internal_quantity="quantity", external_quantity="e_quantity",
        internal_price="internal_price", external_price="external_price",
        internal_fee="fee", external_fee="e_fee",
        internal_fee_asset=pl.col("fee_asset").replace("", None),
        external_fee_asset=pl.col("e_fee_asset").replace("", None),
        internal_time=pl.when(early).then("first").otherwise("last"),
        external_time=pl.when(early).then("e_last").otherwise("e_first"),
    )  # fmt: skip
