"""The effective book: a book side's frame with its adjustments merged in (no Django here).

A run reads its internal dataset's records plus the adjustments in force (SPEC 3.3). They are
merged here, in columns, in the shape each engine already reads, so no engine knows of them:

- balances, ledger, pnl: an adjustment is one more row of its delta; those engines sum the rows
  of a key. A ledger's adjustment rows sit in a wallet of their own ("adjustment") with no
  stated balance, so a wallet whose entries state a balance keeps it (balances_from_ledger takes
  a wallet's last stated balance, else the sum of its movements).
- margin: the delta row carries the as-of time of the key's latest snapshot (at or before the
  run), the one snapshot the margin engine sums.
- trades: a trade is a fill, not a sum, so adjustments change the row itself: numbers by their
  summed deltas, text and times by the latest value set, trades inserted (a missing one) or
  removed and restored (a duplicate), keyed by the book's trade id.

`ADJUSTMENTS` is the frame the caller passes, in adjustment order (`id`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from reconciliation.engine import balances
from reconciliation.engine.types import DECIMAL, TIME, TRADES

ADJUSTMENTS = {
    "id": pl.Int64, "key": pl.String, "field": pl.String, "operation": pl.String,
    "delta": DECIMAL, "value": pl.String, "row": pl.String,
}  # fmt: skip
ADJUSTMENT_WALLET = "adjustment"
NUMBER_FIELDS = {
    "trades": ("quantity", "price", "fee"),
    "margin": ("collateral", "used_margin", "open_position"),
}
TEXT_FIELDS = ("fee_asset", "side", "pair", "base", "quote", "order_id", "exchange_trade_id")
TIME_FIELDS = ("executed_at",)


def empty_adjustments() -> pl.DataFrame:
    return pl.DataFrame(schema=ADJUSTMENTS)


def effective(
    kind: str, frame: pl.DataFrame, adjustments: pl.DataFrame, *, account: str, as_of: datetime
) -> pl.DataFrame:
    """`frame` (a book dataset's records of `kind`) with `adjustments` merged in.

    `account`: the dataset's account code, on added rows. `as_of`: the time added rows carry
    where their kind has one (the dataset's latest time, so a run at or after it counts them).
    """
    if adjustments.is_empty():
        return frame
    adjustments = adjustments.sort("id")
    merge = _MERGES.get(kind)
    if merge is None:
        raise ValueError(f"{kind} records take no adjustments")
    return merge(frame, adjustments, account, as_of)


def _like(frame: pl.DataFrame, values: dict) -> pl.DataFrame:
    """Rows with `frame`'s columns and types: `values` (equal-length series or literals),
    nulls for every other column."""
    height = next(len(v) for v in values.values() if isinstance(v, pl.Series))
    columns = []
    for name, dtype in frame.schema.items():
        value = values.get(name)
        if isinstance(value, pl.Series):
            columns.append(value.cast(dtype).alias(name))
        else:
            columns.append(pl.Series(name, [value] * height, dtype=dtype))
    return pl.DataFrame(columns)


def _deltas(adjustments: pl.DataFrame, field: str) -> pl.DataFrame:
    return adjustments.filter((pl.col("operation") == "add") & (pl.col("field") == field)).select(
        "key", "delta", "row"
    )


def _balances(frame, adjustments, account, as_of):
    deltas = _deltas(adjustments, "quantity")
    added = _like(frame, {"account": account, "asset": deltas["key"],
                          "quantity": deltas["delta"], "as_of": as_of})  # fmt: skip
    return pl.concat([frame, added])


def _ledger(frame, adjustments, account, as_of):
    deltas = adjustments.filter((pl.col("operation") == "add") & (pl.col("field") == "quantity"))
    zero = pl.Series([0] * deltas.height).cast(DECIMAL)
    added = _like(
        frame,
        {
            "account": account, "entry_id": "adjustment-" + deltas["id"].cast(pl.String),
            "reference": "", "asset": deltas["key"], "wallet": ADJUSTMENT_WALLET,
            "amount": deltas["delta"], "fee": zero, "type": "adjustment", "subtype": "",
            "occurred_at": as_of,
        },
    )  # fmt: skip
    return pl.concat([frame, added])


def _pnl(frame, adjustments, account, as_of):
    deltas = _deltas(adjustments, "realised_pnl")
    period = deltas["row"].str.json_decode(
        pl.Struct({"currency": pl.String, "period_start": pl.String, "period_end": pl.String})
    )
    fields = period.struct.unnest()
    added = _like(
        frame,
        {
            "account": account, "asset": deltas["key"], "realised_pnl": deltas["delta"],
            "currency": fields["currency"],
            "period_start": _times(fields["period_start"]),
            "period_end": _times(fields["period_end"]),
        },
    )  # fmt: skip
    return pl.concat([frame, added])


def _margin(frame, adjustments, account, as_of):
    rows = adjustments.filter(pl.col("operation") == "add").select("key", "field", "delta")
    # The key's latest snapshot at or before the dataset's time: the one the engine sums.
    latest = (
        frame.filter(pl.col("as_of").is_null() | (pl.col("as_of") <= as_of))
        .group_by("asset")
        .agg(pl.col("as_of").max().alias("snapshot"))
    )
    rows = rows.join(latest, left_on="key", right_on="asset", how="left")
    zero = pl.lit(0).cast(DECIMAL)
    values = {"account": account, "asset": rows["key"],
              "as_of": rows["snapshot"].fill_null(as_of)}  # fmt: skip
    numbers = rows.select(
        pl.when(pl.col("field") == name).then(pl.col("delta")).otherwise(
            None if name == "open_position" else zero
        ).alias(name)
        for name in NUMBER_FIELDS["margin"]
    )  # fmt: skip
    values.update({name: numbers[name] for name in numbers.columns})
    return pl.concat([frame, _like(frame, values)])


def _trades(frame, adjustments, account, as_of):
    schema = frame.schema
    frame = pl.concat(
        [frame.with_columns(_base=pl.lit(1)), _inserted(frame, adjustments, account)],
        how="diagonal_relaxed",
    )
    frame = _trade_numbers(frame, adjustments)
    frame = _trade_values(frame, adjustments)
    present = _present(frame, adjustments)
    # A Series cast, not an expression's: polars keeps a sum's decimal precision unset through
    # an expression cast (see tolerance.to_decimal), and the engines expect the contract's.
    return pl.DataFrame([present.get_column(n).cast(t) for n, t in schema.items()])


def _inserted(frame: pl.DataFrame, adjustments: pl.DataFrame, account: str) -> pl.DataFrame:
    """The trades inserted into the book (the latest insert of each id), marked `_base` 0."""
    inserts = adjustments.filter(pl.col("operation") == "insert")
    if inserts.is_empty():
        return frame.clear().with_columns(_base=pl.lit(1))
    rows = inserts.group_by("key", maintain_order=True).agg(pl.col("row").last())["row"]
    text = {name: pl.String for name in TRADES}
    fields = rows.str.json_decode(pl.Struct(text)).struct.unnest()
    values = {name: fields[name] for name in fields.columns if name in frame.columns}
    values["account"] = account
    values["executed_at"] = _times(fields["executed_at"])
    for name in NUMBER_FIELDS["trades"]:
        values[name] = fields[name].cast(DECIMAL)
    return _like(frame, values).with_columns(_base=pl.lit(0))


def _trade_numbers(frame: pl.DataFrame, adjustments: pl.DataFrame) -> pl.DataFrame:
    adds = adjustments.filter(pl.col("operation") == "add")
    if adds.is_empty():
        return frame
    sums = adds.pivot(on="field", index="key", values="delta", aggregate_function="sum")
    names = [n for n in NUMBER_FIELDS["trades"] if n in sums.columns]
    sums = sums.select("key", *(pl.col(n).cast(DECIMAL).alias(f"_d_{n}") for n in names))
    joined = frame.join(sums, left_on="trade_id", right_on="key", how="left")
    return joined.with_columns(
        (pl.col(n) + pl.col(f"_d_{n}").fill_null(0)).cast(DECIMAL).alias(n) for n in names
    ).drop(f"_d_{n}" for n in names)


def _trade_values(frame: pl.DataFrame, adjustments: pl.DataFrame) -> pl.DataFrame:
    sets = adjustments.filter(pl.col("operation") == "set")
    if sets.is_empty():
        return frame
    latest = sets.group_by("key", "field").agg(pl.col("value").last())
    wide = latest.pivot(on="field", index="key", values="value")
    names = [n for n in (*TEXT_FIELDS, *TIME_FIELDS) if n in wide.columns]
    wide = wide.select("key", *(pl.col(n).alias(f"_s_{n}") for n in names))
    joined = frame.join(wide, left_on="trade_id", right_on="key", how="left")
    replaced = []
    for name in names:
        new = pl.col(f"_s_{name}")
        if name in TIME_FIELDS:
            new = new.str.to_datetime(time_unit="us", time_zone="UTC")
        replaced.append(pl.coalesce(new.cast(frame.schema[name]), pl.col(name)).alias(name))
    return joined.with_columns(replaced).drop(f"_s_{n}" for n in names)


def _present(frame: pl.DataFrame, adjustments: pl.DataFrame) -> pl.DataFrame:
    """The trades present: a dataset's trade (`_base` 1) or an inserted one (0), plus its
    inserts and restores, minus its removals (a duplicate cancelled, an insert rolled back)."""
    counts = adjustments.filter(pl.col("operation").is_in(["insert", "remove", "restore"]))
    net = counts.group_by("key").agg(
        pl.when(pl.col("operation") == "remove").then(-1).otherwise(1).sum().alias("_net")
    )
    if net.is_empty():
        present = frame.filter(pl.col("_base") > 0)
    else:
        joined = frame.join(net, left_on="trade_id", right_on="key", how="left")
        # An inserted trade already counts once by its insert in `_net`.
        present = joined.filter(pl.col("_base") + pl.col("_net").fill_null(0) > 0).drop("_net")
    return present.drop("_base")


def _times(text: pl.Series) -> pl.Series:
    return text.str.to_datetime(time_unit="us", time_zone="UTC").cast(TIME)


# --- The book's values, as a correction reads them (its original value, the stale guard) -------
# Times as text, in polars' strftime and Python's alike: 2026-01-31T23:59:59.500000Z.
ISO_TIME = "%Y-%m-%dT%H:%M:%S%.6fZ"


def iso_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


VALUES = {"target": pl.String, "field": pl.String, "number": DECIMAL, "text": pl.String}


def pnl_target(asset: str, currency: str, period_start: str, period_end: str) -> str:
    """What a PnL correction targets: one asset's figure in one currency over one period."""
    return f"{asset}|{currency}|{period_start}|{period_end}"


def book_values(
    kind: str, frame: pl.DataFrame, as_of: datetime, targets: list[str] | None = None
) -> pl.DataFrame:
    """The book's current values (VALUES: one row per target and field) as the engines see
    them at `as_of`: an asset's summed quantity (a ledger's holding), a margin figure of the
    latest snapshot, a period's PnL, a trade's fields ("trade" is 1 while it is present)."""
    wanted = None if targets is None else pl.Series(targets, dtype=pl.String).implode()
    if kind == "trades" and wanted is not None:  # a trade is a row: take only those wanted
        frame = frame.filter(pl.col("trade_id").is_in(wanted))
    values = _VALUES[kind](frame, as_of)
    if wanted is not None:
        values = values.filter(pl.col("target").is_in(wanted))
    return values.select(pl.col(n).cast(t) for n, t in VALUES.items())


def _long(frame: pl.DataFrame, numbers=(), texts=()) -> pl.DataFrame:
    parts = [
        frame.select("target", pl.lit(n).alias("field"), pl.col(n).cast(DECIMAL).alias("number"),
                     pl.lit(None, pl.String).alias("text"))
        for n in numbers
    ] + [
        frame.select("target", pl.lit(n).alias("field"), pl.lit(None, DECIMAL).alias("number"),
                     pl.col(n).cast(pl.String).alias("text"))
        for n in texts
    ]  # fmt: skip
    return pl.concat(parts) if parts else pl.DataFrame(schema=VALUES)


def _balance_values(frame, as_of):
    sums = frame.group_by("asset").agg(pl.col("quantity").sum()).rename({"asset": "target"})
    return _long(sums, numbers=("quantity",))


def _ledger_values(frame, as_of):
    holdings = balances.balances_from_ledger(balances.with_wallet_assets(frame), as_of)
    return _balance_values(holdings, as_of)


def _margin_values(frame, as_of):
    current = frame.filter(pl.col("as_of").is_null() | (pl.col("as_of") <= as_of))
    latest = current.filter(
        pl.col("as_of").eq_missing(pl.col("as_of").max().over("asset"))
        | pl.col("as_of").max().over("asset").is_null()
    )
    fields = NUMBER_FIELDS["margin"]
    sums = latest.group_by("asset").agg(pl.col(n).fill_null(0).sum() for n in fields)
    return _long(sums.rename({"asset": "target"}), numbers=fields)


def _pnl_values(frame, as_of):
    iso = ISO_TIME
    keyed = frame.with_columns(
        target=pl.concat_str(
            "asset", "currency", pl.col("period_start").dt.strftime(iso),
            pl.col("period_end").dt.strftime(iso), separator="|",
        )
    )  # fmt: skip
    sums = keyed.group_by("target").agg(pl.col("realised_pnl").sum())
    return _long(sums, numbers=("realised_pnl",))


def _trade_values_long(frame, as_of):
    iso = ISO_TIME
    trades = frame.with_columns(
        target=pl.col("trade_id"),
        trade=pl.lit(1),
        executed_at=pl.col("executed_at").dt.strftime(iso),
    )
    return _long(trades, numbers=("trade", *NUMBER_FIELDS["trades"]),
                 texts=("fee_asset", "side", "executed_at"))  # fmt: skip


_VALUES = {
    "balances": _balance_values,
    "ledger": _ledger_values,
    "margin": _margin_values,
    "pnl": _pnl_values,
    "trades": _trade_values_long,
}

_MERGES = {
    "balances": _balances,
    "ledger": _ledger,
    "pnl": _pnl,
    "margin": _margin,
    "trades": _trades,
}
