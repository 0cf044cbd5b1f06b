"""What a correction of a break changes in the book, for each run type (SPEC 3.1).

| run type | break field | the book change |
|---|---|---|
| position, cash, valuation | quantity, value | the asset's quantity (a delta row) |
| trades, fees | quantity, price, fee | the book trade's number (a delta) |
| trades, fees | fee_asset | the book trade's fee asset and fee |
| trades | side, executed_at | the book trade's side or time |
| trades | trade, missing in the book | the exchange's trade added to the book |
| trades | trade, missing at the exchange (or a duplicate) | the book trade cancelled |
| pnl | realised_pnl | the period's realised PnL figure |
| margin | collateral, used_margin, open_position | the figure of the latest snapshot |

Some breaks are not in the book and cannot be corrected there: a stale or missing price (load
fresh prices), a fee total (correct the trades' fees, or add the missing trades), a pair
mismatch (cancel the trade and add the exchange's), a match across several book trades
(correct each trade). Proposing one is refused, saying what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from config.errors import DomainError
from reconciliation.engine.book import iso_time, pnl_target

BALANCE_TYPES = ("position", "cash", "valuation")
TRADE_NUMBERS = ("quantity", "price", "fee")
MARGIN_FIELDS = ("collateral", "used_margin", "open_position")


class NotCorrectable(DomainError):
    code = "break_not_correctable"


@dataclass(frozen=True)
class Target:
    """The book value a correction changes, and what it would become."""

    record_kind: str
    asset: str
    target: str  # the asset, the book trade's id, or a PnL period (engine/book.pnl_target)
    field: str
    operation: str  # Correction.Operation
    corrected_value: Decimal | None = None
    corrected_text: str = ""
    trade_row: dict | None = None
    pnl_period: dict | None = None
    extra: dict = field(default_factory=dict)
    chosen: bool = False  # a person chose the value (not the break's suggestion)


def target_of(brk, run) -> Target:
    """The target of a correction of `brk` (a Break seen by `run`), with the suggested value."""
    kind = run.internal_dataset.kind
    if run.type in BALANCE_TYPES:
        return _balance_target(brk, kind)
    if run.type in ("trades", "fees"):
        return _trade_target(brk, kind)
    if run.type == "pnl" and brk.field == "realised_pnl":
        return _pnl_target(brk, kind)
    if run.type == "margin" and brk.field in MARGIN_FIELDS:
        return Target(kind, brk.asset, brk.asset, brk.field, "adjust", brk.suggested_value)
    raise NotCorrectable(f"A {run.type} break of {brk.field} has no correction in the book.")


def _balance_target(brk, kind: str) -> Target:
    if brk.field == "price":
        raise NotCorrectable(
            f"The {brk.asset} price is stale or missing: that is the prices dataset, not the "
            "book. Load fresh prices (or fix the price feed) and run the valuation again."
        )
    if brk.field == "value":
        # The value follows the quantity: the quantity is corrected; the caller fills in the
        # exchange's quantity (a valuation break stores values, not quantities).
        return Target(kind, brk.asset, brk.asset, "quantity", "adjust", None,
                      extra={"from_external_quantity": True})  # fmt: skip
    return Target(kind, brk.asset, brk.asset, "quantity", "adjust", brk.suggested_value)


def _book_trade(brk) -> str:
    ids = (brk.details or {}).get("internal_ids") or []
    if len(ids) != 1:
        raise NotCorrectable(
            f"This match spans {len(ids)} book trades ({', '.join(ids)}): a suggested value is "
            "their total. Correct each book trade's own break, or the trades themselves."
        )
    return ids[0]


def _trade_target(brk, kind: str) -> Target:
    details = brk.details or {}
    if brk.field == "trade":
        return _missing_trade_target(brk, kind, details)
    if brk.field == "fee_total":
        raise NotCorrectable(
            f"A fee total spans every {brk.asset or 'fee'} trade: correct the per-trade fee "
            "breaks, or add the missing trades, then run again."
        )
    if brk.field == "pair":
        raise NotCorrectable(
            "The two sides traded different pairs: cancel the book trade (its own break) and "
            "add the exchange's trade, rather than changing the pair."
        )
    trade_id = _book_trade(brk)
    if brk.field in TRADE_NUMBERS:
        return Target(kind, brk.asset, trade_id, brk.field, "adjust", brk.suggested_value)
    if brk.field == "fee_asset":
        return Target(kind, brk.asset, trade_id, "fee_asset", "set", brk.external_value,
                      corrected_text=details.get("external_fee_asset") or "")  # fmt: skip
    if brk.field == "side":
        return Target(kind, brk.asset, trade_id, "side", "set",
                      corrected_text=details.get("external") or "")  # fmt: skip
    if brk.field == "executed_at":
        external = details.get("external_time")
        text = iso_time(datetime.fromisoformat(external)) if external else ""
        return Target(kind, brk.asset, trade_id, "executed_at", "set", corrected_text=text)
    raise NotCorrectable(f"A trade's {brk.field} has no correction in the book.")


def _missing_trade_target(brk, kind: str, details: dict) -> Target:
    trade_id = details.get("trade_id") or brk.entity
    if brk.internal_value is not None:
        # The book has a trade the exchange does not (or the book holds it twice): cancel it.
        return Target(kind, brk.asset, trade_id, "trade", "cancel_trade", Decimal(0))
    executed = details.get("executed_at")
    pair = details.get("pair") or ""
    base, _, quote = pair.partition("/")
    row = {
        "trade_id": f"RD-{trade_id}", "order_id": details.get("order_id") or "",
        "exchange_trade_id": trade_id, "pair": pair, "base": base or brk.asset, "quote": quote,
        "side": details.get("side") or "", "quantity": _text(brk.external_value),
        "price": details.get("price") or "", "fee": details.get("fee") or "0",
        "fee_asset": details.get("fee_asset") or "",
        "executed_at": iso_time(datetime.fromisoformat(executed)) if executed else "",
    }  # fmt: skip
    return Target(kind, brk.asset, row["trade_id"], "trade", "add_trade", Decimal(1),
                  trade_row=row)  # fmt: skip


def _pnl_target(brk, kind: str) -> Target:
    details = brk.details or {}
    currency = details.get("currency") or ""
    start, end = details.get("period_start"), details.get("period_end")
    if not (currency and start and end):
        raise NotCorrectable("This PnL break does not say its currency and period.")
    period = {
        "currency": currency,
        "period_start": iso_time(datetime.fromisoformat(start)),
        "period_end": iso_time(datetime.fromisoformat(end)),
    }
    key = pnl_target(brk.asset, currency, period["period_start"], period["period_end"])
    return Target(kind, brk.asset, key, "realised_pnl", "adjust", brk.suggested_value,
                  pnl_period=period)  # fmt: skip


def _text(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")
