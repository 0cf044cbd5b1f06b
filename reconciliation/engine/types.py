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


@dataclass(frozen=True)
class RunType:
    """What a run type takes and how it runs: the one table the run pipeline reads.

    `internal` / `external`: the dataset kinds the book side and the exchange side may be.
    `prices`: the type itself needs prices (every type uses them to value its breaks).
    `splits`: a large run of it may be split by asset into parts (SPEC 7.4).
    `engine`: which engine reconciles it (a name in runs/engine_adapter.py's ENGINES).
    """

    internal: frozenset[str]
    external: frozenset[str]
    prices: bool
    splits: bool
    engine: str

    def kinds(self, side: str) -> frozenset[str]:
        return self.internal if side == "internal" else self.external


_HOLDINGS = frozenset({"balances", "ledger"})
# Not split: `fees` (its totals per fee asset span every pair) and `pnl` (a part would not see the
# book's periods of the other parts' assets, where unbooked PnL is looked for).
RUN_TYPES = {
    "position": RunType(_HOLDINGS, _HOLDINGS, prices=False, splits=True, engine="balances"),
    "cash": RunType(_HOLDINGS, _HOLDINGS, prices=False, splits=True, engine="balances"),
    "valuation": RunType(
        frozenset({"balances"}), _HOLDINGS, prices=True, splits=True, engine="valuation"
    ),
    "pnl": RunType(
        frozenset({"pnl"}), frozenset({"trades"}), prices=False, splits=False, engine="pnl"
    ),
    "trades": RunType(
        frozenset({"trades"}), frozenset({"trades"}), prices=False, splits=True, engine="trades"
    ),
    "fees": RunType(
        frozenset({"trades"}), frozenset({"trades"}), prices=False, splits=False, engine="fees"
    ),
    "margin": RunType(
        frozenset({"margin"}), frozenset({"margin"}), prices=False, splits=True, engine="margin"
    ),
}
TYPES = tuple(RUN_TYPES)  # in this order in the models' choices (and so in migrations)

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

# Each dataset kind's frame, and the column a run is partitioned by (SPEC 7.4): the asset, or for
# trades the pair's base (prices are never partitioned: every part values with all of them).
SCHEMAS = {"balances": BALANCES, "ledger": LEDGER, "trades": TRADES, "prices": PRICES,
           "margin": MARGIN, "pnl": PNL}  # fmt: skip
PARTITION_COLUMN = {"balances": "asset", "ledger": "asset", "trades": "base", "margin": "asset",
                    "pnl": "asset"}  # fmt: skip

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


# --- A run's result and how its steps stop --------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """What the engine found: breaks (BREAKS + value_rc, severity) and, for trades, matches."""

    breaks: pl.DataFrame
    matches: pl.DataFrame | None = None


class RunCancelled(Exception):
    """A cancel was asked for: the run stops at its next step and stores nothing."""


class RunOver(Exception):
    """The run ended meanwhile (another part failed, a cancel was honoured): nothing to do."""


class RunSuperseded(RunOver):
    """A later delivery holds the run (this one's worker was taken for dead): it decides."""
