"""From a run's inputs to its results: which engine functions each type uses (no storage here).

Each dataset is one account, so both sides are keyed by the internal dataset's account code:
the book's `main` and the exchange's `main` are the same book. Balances are summed over wallets
per asset; an external ledger is turned into balances at the run's as-of time.
"""

from __future__ import annotations

import polars as pl

from reconciliation.break_store import RunResult
from reconciliation.engine import balances, fees, margin, pnl, trades, valuation
from reconciliation.engine.rule_definition import RuleDefinition
from reconciliation.engine.types import PRICES
from reconciliation.importers.assets import KRAKEN_WALLET_SUFFIX
from reconciliation.models import Run


def _one_account(frame: pl.DataFrame, account: str) -> pl.DataFrame:
    return frame.with_columns(account=pl.lit(account))


def _wallet_assets(ledger: pl.DataFrame) -> pl.DataFrame:
    """Earn-wallet entries count towards the suffixed asset (DOT in earn / bonded is DOT.S)."""
    suffix = pl.col("wallet").replace_strict(KRAKEN_WALLET_SUFFIX, default="")
    already = pl.col("asset").str.contains(".", literal=True)
    return ledger.with_columns(
        asset=pl.when(already).then(pl.col("asset")).otherwise(pl.col("asset") + suffix)
    )


def _side(dataset, frame: pl.DataFrame, account: str, as_of):
    """(balances, ledger or None) of one side; a ledger is turned into balances at as_of."""
    frame = _one_account(frame, account)
    if dataset.kind != "ledger":
        return frame, None
    ledger = _wallet_assets(frame)
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
    present = inputs["prices"].get_column("price_source").unique(maintain_order=True).to_list()
    listed = list(definition.price_sources)
    return valuation.select_prices(
        inputs["prices"],
        as_of=run.as_of,
        reporting_currency=definition.reporting_currency,
        source_priority=listed + [s for s in present if s not in listed],
        staleness=definition.price_staleness,
        last_known_good=definition.last_known_good,
    )


def _balances(run: Run, inputs: dict, definition: RuleDefinition) -> pl.DataFrame:
    internal, external, internal_ledger, ledger = balance_sides(run, inputs)
    rules = definition.tolerances[run.type]
    if run.type == "valuation":
        return valuation.reconcile_valuation(
            internal, external, _prices(run, inputs, definition), rules,
            reporting_currency=definition.reporting_currency,
        )  # fmt: skip
    cash = run.type == "cash"
    internal = _cash_filter(internal, definition, cash)
    external = _cash_filter(external, definition, cash)
    if ledger is not None:
        ledger = _cash_filter(ledger, definition, cash)
    if internal_ledger is not None:
        internal_ledger = _cash_filter(internal_ledger, definition, cash)
    return balances.reconcile_balances(
        internal, external, rules, type=run.type, internal_ledger=internal_ledger,
        external_ledger=ledger,
    )  # fmt: skip


def where_it_started(run: Run, account: str, asset: str) -> dict | None:
    """For a balance break with ledgers on both sides: where the running balances diverged."""
    if run.internal_dataset.kind != "ledger" or run.external_dataset.kind != "ledger":
        return None
    from reconciliation.runs import load_inputs

    inputs = load_inputs(run, assets=[asset.split(".")[0]])
    _, _, internal_ledger, external_ledger = balance_sides(run, inputs)
    return balances.where_divergence_started(internal_ledger, external_ledger, account, asset)


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


def _margin(run: Run, inputs: dict, definition: RuleDefinition) -> pl.DataFrame:
    internal, external = _both_sides(run, inputs)
    rules = definition.tolerances["margin"]
    return margin.reconcile_margin(internal, external, rules, as_of=run.as_of)


def _pnl(run: Run, inputs: dict, definition: RuleDefinition) -> pl.DataFrame:
    """The book's realised PnL against what the exchange's trades realise (FIFO or average)."""
    book, exchange_trades = _both_sides(run, inputs)
    rules = definition.tolerances["pnl"]
    return pnl.reconcile_pnl(book, exchange_trades, rules, method=definition.pnl_method)


def reconcile(run: Run, inputs: dict, definition: RuleDefinition) -> RunResult:
    """The run's breaks, valued in the reporting currency and graded by severity."""
    if run.type in ("trades", "fees"):
        result = _trades(run, inputs, definition)
    elif run.type == "margin":
        result = RunResult(_margin(run, inputs, definition), None)
    elif run.type == "pnl":
        result = RunResult(_pnl(run, inputs, definition), None)
    else:
        result = RunResult(_balances(run, inputs, definition), None)
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
