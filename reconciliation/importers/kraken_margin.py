"""Kraken's margin figures (TradeBalance, OpenPositions) as a canonical margin table (no Django).

Kraken states the account's margin in one asset (`asset`, ZUSD by default), for the account as a
whole, and its open positions one by one:

* TradeBalance: `tb` trade balance, the combined value of the collateral currencies (after
  Kraken's collateral haircuts): the **collateral**; `m` the **margin used** by the open
  positions; also `eb` equivalent balance (every currency, collateral or not), `n` unrealised
  P&L, `c` cost basis, `v` valuation of the positions, `e` equity (= tb + n), `mf` free margin
  (= e - m), `ml` margin level (e / m x 100, absent without positions), `uv` unexecuted value
  (open orders). All are kept in `extra`.
* OpenPositions: per position its pair, `type` buy (long) or sell (short), `vol` and
  `vol_closed`; the **open position** of the pair's base asset is the sum over its positions of
  vol - vol_closed, long positive, short negative.

So the table has one row for the asset the figures are stated in (collateral = tb, used margin =
m) and one per base asset with open positions (collateral 0, used margin 0, open position), the
layout of the generic margin format (docs/formats.md): a book in that format reconciles against
it field by field. Every figure stays the exact decimal string Kraken sent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

import pyarrow as pa

from .assets import normalise_code
from .base import TIME, Parsed, RowErrors, canonical_table, decimals, extra_json
from .kraken_rows import PairResolver

# TradeBalance fields kept in `extra`, in Kraken's documented order; tb and m are columns.
OTHER_FIGURES = ("eb", "n", "c", "v", "e", "mf", "ml", "uv")
SIDES = {"buy": 1, "sell": -1}


def margin_table(
    trade_balance: dict,
    positions: dict,
    *,
    aliases: dict[str, str],
    as_of: datetime,
    pairs: PairResolver,
    balance_asset: str = "ZUSD",
) -> Parsed:
    """The margin snapshot at `as_of`; the rows have no `account` (the caller's)."""
    errors = RowErrors()
    asset = normalise_code(balance_asset, aliases)
    rows: dict[str, dict] = {
        asset: {
            "collateral": _text(trade_balance.get("tb")),
            "used_margin": _text(trade_balance.get("m")),
            "open": None,
            "extra": {
                "kraken_asset": balance_asset,
                **{
                    f"kraken_{name}": _text(trade_balance.get(name)) or "" for name in OTHER_FIGURES
                },
            },
        }
    }
    for base, code, amount, position_id, pair in _open_positions(positions, pairs, errors):
        row = rows.setdefault(
            base,
            {"collateral": "0", "used_margin": "0", "open": None,
             "extra": {"kraken_asset": code, "positions": "", "kraken_pairs": ""}},
        )  # fmt: skip
        row["open"] = (row["open"] or Decimal(0)) + amount
        extra = row["extra"]
        extra["positions"] = ",".join(filter(None, [extra.get("positions", ""), position_id]))
        listed = extra.get("kraken_pairs", "").split(",")
        extra["kraken_pairs"] = ",".join(filter(None, dict.fromkeys([*listed, pair])))
    return Parsed("margin", _table(rows, as_of, errors), errors)


def _open_positions(positions: dict, pairs: PairResolver, errors: RowErrors):
    """(base asset, Kraken base code, signed open volume, id, pair) per position, checked."""
    for index, (position_id, position) in enumerate(sorted(positions.items()), start=1):
        # Errors are numbered by position (rows of the answer), after the balance row 1.
        row = index + 1
        position = position if isinstance(position, dict) else {}
        pair = _text(position.get("pair")) or ""
        resolved = pairs.resolve(pair) if pair else None
        side = SIDES.get((_text(position.get("type")) or "").lower())
        held = _volume(position, row, errors, position_id)
        if resolved is None:
            reason = f"position {position_id}: unknown Kraken pair (not in AssetPairs)"
            errors.add(row, "pair", pair, reason)
        if side is None:
            reason = f"position {position_id}: must be buy or sell"
            errors.add(row, "type", _text(position.get("type")), reason)
        if resolved is None or side is None or held is None:
            continue
        code = (pairs.pairs.get(pair) or (resolved[0],))[0]
        yield resolved[0], code, side * held, str(position_id), pair


def _volume(position: dict, row: int, errors: RowErrors, position_id: str) -> Decimal | None:
    """vol - vol_closed, exactly; None (with an error) if either is not a plain decimal."""
    values = []
    for name in ("vol", "vol_closed"):
        text = _text(position.get(name))
        if text is None and name == "vol_closed":
            text = "0"
        local = RowErrors()
        decimals(pa.array([text], pa.string()), pa.array([row]), name, local)
        if local:
            errors.add(row, name, text, f"position {position_id}: {local.listed[0].reason}")
            return None
        try:
            values.append(Decimal(text))
        except InvalidOperation:  # pragma: no cover - decimals() refused it already
            return None
    return values[0] - values[1]


def _table(rows: dict[str, dict], as_of: datetime, errors: RowErrors) -> pa.Table:
    first, *others = rows  # the balance asset's row, then the positions' assets in order
    assets = [first, *sorted(others)]
    numbers = pa.array(range(1, len(assets) + 1), pa.int64())

    def column(name: str, kraken_name: str) -> pa.Array:
        values = pa.array([rows[a][name] for a in assets], pa.string())
        return decimals(values, numbers, f"{name} ({kraken_name})", errors)

    opens = [rows[a]["open"] for a in assets]
    open_text = pa.array([None if v is None else _plain(v) for v in opens], pa.string())
    names = sorted({key for a in assets for key in rows[a]["extra"]})
    extras = pa.table(
        {
            name: pa.array([rows[a]["extra"].get(name, "") for a in assets], pa.string())
            for name in names
        }
    )
    return canonical_table(
        "margin",
        {
            "row_number": numbers,
            "asset": pa.array(assets, pa.string()),
            "collateral": column("collateral", "tb"),
            "used_margin": column("used_margin", "m"),
            "open_position": decimals(open_text, numbers, "open_position", errors, required=False),
            "as_of": pa.array([as_of] * len(assets), TIME),
            "extra": extra_json(extras, names),
        },
    )


def _text(value) -> str | None:
    """A JSON value as Kraken sent it (strings as they are; numbers in plain notation)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value).strip()


def _plain(value: Decimal) -> str:
    return "0" if value == 0 else format(value, "f")
