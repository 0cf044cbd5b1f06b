"""From a run's inputs to its results: which engine functions each type uses (no storage here).

`ENGINES` holds the engine of each `engine` name in the run types' table (engine/types.py).
Each dataset is one account, so both sides are keyed by the internal dataset's account code:
the book's `main` and the exchange's `main` are the same book. Balances are summed over wallets
per asset; an external ledger is turned into balances at the run's as-of time.
"""

from __future__ import annotations

import json

import polars as pl

from reconciliation.engine import balances, fees, margin, pnl, trades, valuation
from reconciliation.engine.rule_definition import RuleDefinition
from reconciliation.engine.types import PRICES, RUN_TYPES, RunResult
from reconciliation.models import Run


def _one_account(frame: pl.DataFrame, account: str) -> pl.DataFrame:
    return frame.with_columns(account=pl.lit(account))


def _side(dataset, frame: pl.DataFrame, account: str, as_of):
    """(balances, ledger or None) of one side; a ledger is turned into balances at as_of."""
    frame = _one_account(frame, account)
    if dataset.kind != "ledger":
        return frame, None
    ledger = balances.with_wallet_assets(frame)
    return balances.balances_from_ledger(ledger, as_of), ledger


def balance_sides(run: Run, inputs: dict) -> tuple:
    """(internal, external, internal ledger, external ledger) for a balance run."""
    account = run.internal_dataset.account.code
    internal, internal_ledger = _side(run.internal_dataset, inputs["internal"], account, run.as_of)
    external, external_ledger = _side(run.external_dataset, inputs["external"], account, run.as_of)
    return internal, external, internal_ledger, external_ledger


def _cash_filter(frame: pl.DataFrame, definition: RuleDefinition, cash: bool) -> pl.DataFrame:
    is_cash = pl.col("asset").is_in(list(definition.cash_assets))
    return frame.filter(is_cash if cash else ~is_cash)


def _prices(run: Run, inputs: dict, definition: RuleDefinition) -> pl.DataFrame | None:
    if "prices" not in inputs:
        return None
    return valuation.prices_under(inputs["prices"], run.as_of, definition)


def _valuation(run: Run, inputs: dict, definition: RuleDefinition) -> RunResult:
    internal, external, _, _ = balance_sides(run, inputs)
    found = valuation.reconcile_valuation(
        internal, external, _prices(run, inputs, definition), definition.tolerances[run.type],
        reporting_currency=definition.reporting_currency,
    )  # fmt: skip
    return RunResult(found)


def _balances(run: Run, inputs: dict, definition: RuleDefinition) -> RunResult:
    """Position or cash breaks; with ledgers on both sides each says where it started."""
    sides = balance_sides(run, inputs)
    cash = run.type == "cash"
    internal, external, internal_ledger, ledger = (
        None if side is None else _cash_filter(side, definition, cash) for side in sides
    )
    found = balances.reconcile_balances(
        internal, external, definition.tolerances[run.type], type=run.type,
        internal_ledger=internal_ledger, external_ledger=ledger,
    )  # fmt: skip
    if internal_ledger is not None and ledger is not None:
        found = _with_where_started(found, internal_ledger, ledger)
    return RunResult(found)


def _with_where_started(
    found: pl.DataFrame, internal_ledger: pl.DataFrame, external_ledger: pl.DataFrame
) -> pl.DataFrame:
    """Each break's details with `started`: where the running balances diverged (or none).

    Computed here, while the ledgers are loaded, so that a break's page only reads it.
    """
    if found.is_empty():
        return found
    keys = ("account", "asset")
    internal = internal_ledger.partition_by(*keys, as_dict=True)  # one pass, not one per break
    external = external_ledger.partition_by(*keys, as_dict=True)
    details = []
    for account, asset, text in found.select(*keys, "details").iter_rows():
        start = balances.where_divergence_started(
            internal.get((account, asset), internal_ledger.clear()),
            external.get((account, asset), external_ledger.clear()),
            account,
            asset,
        )
        if start is None:
            details.append(text)
            continue
        values = json.loads(text) if text else {}
        values["started"] = _stored_start(start)
        details.append(json.dumps(values, sort_keys=True))
    return found.with_columns(details=pl.Series(details, dtype=pl.String))


def _stored_start(start: dict) -> dict:
    """`where_divergence_started` as JSON: the time in ISO 8601, amounts as exact strings."""
    return {
        "occurred_at": start["occurred_at"].isoformat(),
        "internal_entry_ids": list(start["internal_entry_ids"]),
        "external_entry_ids": list(start["external_entry_ids"]),
        "internal_balance": format(start["internal_balance"], "f"),
        "external_balance": format(start["external_balance"], "f"),
        "difference": format(start["difference"], "f"),
    }


def _both_sides(run: Run, inputs: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    account = run.internal_dataset.account.code
    return _one_account(inputs["internal"], account), _one_account(inputs["external"], account)


def _trades(run: Run, inputs: dict, definition: RuleDefinition) -> RunResult:
    internal, external = _both_sides(run, inputs)
    match = trades.match_trades(internal, external, definition.tolerances["trades"])
    if run.type == "fees":
        found = fees.reconcile_fees(match, internal, external, definition.tolerances["fees"])
        return RunResult(found, None)
    return RunResult(match.breaks, match.matches)


def _margin(run: Run, inputs: dict, definition: RuleDefinition) -> RunResult:
    internal, external = _both_sides(run, inputs)
    rules = definition.tolerances["margin"]
    return RunResult(margin.reconcile_margin(internal, external, rules, as_of=run.as_of))


def _pnl(run: Run, inputs: dict, definition: RuleDefinition) -> RunResult:
    """The book's realised PnL against what the exchange's trades realise (FIFO or average)."""
    book, exchange_trades = _both_sides(run, inputs)
    rules = definition.tolerances["pnl"]
    return RunResult(pnl.reconcile_pnl(book, exchange_trades, rules, method=definition.pnl_method))


# The engine of each `engine` name in the run types' table.
ENGINES = {
    "balances": _balances,
    "valuation": _valuation,
    "trades": _trades,
    "fees": _trades,  # fees are found from the trades' match
    "margin": _margin,
    "pnl": _pnl,
}
assert {spec.engine for spec in RUN_TYPES.values()} <= set(ENGINES)  # checked at import


def reconcile(run: Run, inputs: dict, definition: RuleDefinition) -> RunResult:
    """The run's breaks, valued in the reporting currency and graded by severity."""
    result = ENGINES[RUN_TYPES[run.type].engine](run, inputs, definition)
    return RunResult(_grade(run, inputs, definition, result.breaks), result.matches)


def _prices_of_nothing(run: Run, definition: RuleDefinition) -> pl.DataFrame:
    """The selected prices when no prices dataset was given: the reporting currency's own 1."""
    return valuation.select_prices(
        pl.DataFrame(schema=PRICES), as_of=run.as_of,
        reporting_currency=definition.reporting_currency, source_priority=[],
        staleness=definition.price_staleness, last_known_good=False,
    )  # fmt: skip


def _with_suffixed(prices: pl.DataFrame, assets: list[str]) -> pl.DataFrame:
    """A staked or earn balance (DOT.S) is worth what its coin (DOT) is worth."""
    wanted = [a for a in assets if "." in a and a not in set(prices["asset"].to_list())]
    if not wanted:
        return prices
    bases = pl.DataFrame({"asset": wanted, "base": [a.split(".")[0] for a in wanted]})
    derived = bases.join(prices.rename({"asset": "base"}), on="base", how="inner").select(
        prices.columns
    )
    return pl.concat([prices, derived.with_columns(price_source="base:" + pl.col("price_source"))])


def _grade(run, inputs, definition: RuleDefinition, found: pl.DataFrame) -> pl.DataFrame:
    """Value every break in the reporting currency; an asset without a price is left unvalued
    (severity "high"), while amounts in the reporting currency itself need no price."""
    prices = _prices(run, inputs, definition)
    if prices is None:
        prices = _prices_of_nothing(run, definition)
    assets = found.get_column("value_asset" if "value_asset" in found.columns else "asset")
    prices = _with_suffixed(prices, assets.unique().to_list())
    found = valuation.value_breaks(found, prices, reporting_currency=definition.reporting_currency)
    grades = valuation.severity(found.get_column("value_rc"), list(definition.severity_bands))
    return found.with_columns(severity=grades)
