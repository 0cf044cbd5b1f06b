"""The engine's contract: input frames, tolerances and the break frame (no Django here).

Every engine function takes polars DataFrames whose money columns are `DECIMAL`
(`pl.Decimal(38, 18)`, exact) and returns polars DataFrames; nothing is ever a float.
The caller (the run service) loads stored records into these shapes and stores the results.

Never multiply or divide two DECIMAL columns with `*` or `/`: polars 1.33 wraps products past
~170 without an error and refuses division. `engine/tolerance.py` does both exactly on the
underlying integers (Int128 counts of 10^-18), rounding half-even.

Balance frames may carry an `as_of` column (used to find timing differences); rows with the same
(account, asset) are summed. Tolerance fields: quantity, price, fee, fee_asset, executed_at,
value, fee_total, realised_pnl, collateral, used_margin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import polars as pl

DECIMAL = pl.Decimal(38, 18)
TIME = pl.Datetime("us", "UTC")

TYPES = ("position", "cash", "valuation", "pnl", "trades", "fees", "margin")

# --- Inputs (extra columns are allowed and ignored) ---------------------------------------------
BALANCES = {"account": pl.String, "asset": pl.String, "quantity": DECIMAL}
LEDGER = {
    "account": pl.String, "entry_id": pl.String, "reference": pl.String, "asset": pl.String,
    "wallet": pl.String, "amount": DECIMAL, "fee": DECIMAL, "balance": DECIMAL,
    "type": pl.String, "subtype": pl.String, "occurred_at": TIME,
}  # fmt: skip
TRADES = {
    "trade_id": pl.String, "order_id": pl.String, "exchange_trade_id": pl.String,
    "account": pl.String, "pair": pl.String, "base": pl.String, "quote": pl.String,
    "side": pl.String, "quantity": DECIMAL, "price": DECIMAL, "fee": DECIMAL,
    "fee_asset": pl.String, "executed_at": TIME,
}  # fmt: skip
PRICES = {
    "asset": pl.String, "quote": pl.String, "price": DECIMAL, "as_of": TIME,
    "price_source": pl.String,
}  # fmt: skip
MARGIN = {
    "account": pl.String, "asset": pl.String, "collateral": DECIMAL, "used_margin": DECIMAL,
    "open_position": DECIMAL, "as_of": TIME,
}  # fmt: skip
# The book's realised PnL per traded asset, in `currency`, over [period_start, period_end).
PNL = {
    "account": pl.String, "asset": pl.String, "realised_pnl": DECIMAL, "currency": pl.String,
    "period_start": TIME, "period_end": TIME,
}  # fmt: skip

# --- Output: one row per break ------------------------------------------------------------------
BREAKS = {
    "type": pl.String,  # one of TYPES
    "break_key": pl.String,  # identity across runs: same key = same break, e.g. position|main|BTC
    "account": pl.String,
    "asset": pl.String,  # the asset the difference is in ('' when none, e.g. a trade's id break)
    "entity": pl.String,  # what differs: the asset, or the trade id(s)
    "field": pl.String,  # quantity, price, fee, fee_asset, executed_at, trade, value, ...
    "internal_value": DECIMAL,  # null when the internal side has no such row
    "external_value": DECIMAL,  # null when the external side has no such row
    "difference": DECIMAL,  # internal - external (a missing side counts as 0); null if n/a
    "difference_pct": DECIMAL,  # difference / |external| * 100; null when external is 0/null
    "causes": pl.List(pl.String),  # likely causes, most likely first (see causes.py)
    "suggested_value": DECIMAL,  # what the internal value should become to resolve it
    # A JSON object: evidence (ledger entry ids, matched rows, the rule used). Built vectorised,
    # so compact rather than byte-identical to `details()`; it parses to the same objects.
    "details": pl.String,
}
# An engine may add what a break is worth, for valuing it in the reporting currency: it is worth
# `value_amount` (>= 0) of `value_asset`. Without them a break is worth |difference| of `asset`.
EXPOSURE = {"value_asset": pl.String, "value_amount": DECIMAL}
# For fields that are not numbers (fee_asset, side, pair) the values are null and both labels
# are in `details`; times (executed_at) are epoch seconds, exact to the microsecond.


def empty_breaks(exposure: bool = False) -> pl.DataFrame:
    return pl.DataFrame(schema={**BREAKS, **EXPOSURE} if exposure else BREAKS)


def details(**values) -> str:
    """A break's details as canonical JSON (decimals as plain strings)."""

    def plain(value):
        if isinstance(value, Decimal):
            return format(value, "f")
        raise TypeError(type(value).__name__)

    return json.dumps(values, sort_keys=True, default=plain)


# --- Tolerances -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """A difference is within tolerance when |difference| <= max(absolute, relative * |external|).

    `relative` is a fraction (0.001 = 0.1 %). `time_window` is how far apart two times may be
    and still be the same event (trade matching, timing differences).
    """

    absolute: Decimal = Decimal(0)
    relative: Decimal = Decimal(0)
    time_window: timedelta = timedelta(seconds=5)


@dataclass(frozen=True)
class Override:
    """A tolerance for part of a type: any of account, asset, field may be None (= all)."""

    tolerance: Tolerance
    account: str | None = None
    asset: str | None = None
    field: str | None = None

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        """Most specific wins: more dimensions set first; then field, asset, account."""
        dims = (self.field is not None, self.asset is not None, self.account is not None)
        return (sum(dims), *(int(d) for d in dims))

    def applies(self, account: str, asset: str, field_name: str) -> bool:
        return (
            (self.account is None or self.account == account)
            and (self.asset is None or self.asset == asset)
            and (self.field is None or self.field == field_name)
        )


@dataclass(frozen=True)
class ToleranceRules:
    """The tolerances of one reconciliation type: a default and overrides."""

    default: Tolerance
    overrides: tuple[Override, ...] = field(default_factory=tuple)

    def for_key(self, account: str, asset: str, field_name: str) -> Tolerance:
        """The tolerance for (account, asset, field): the most specific override, else default."""
        matching = [o for o in self.overrides if o.applies(account, asset, field_name)]
        if not matching:
            return self.default
        return max(matching, key=lambda o: o.specificity).tolerance
