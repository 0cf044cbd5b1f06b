"""Reconciliation data: where data comes from, the datasets loaded, and their records."""

from reconciliation.models.datasets import (
    BalanceRecord,
    Dataset,
    LedgerEntryRecord,
    MarginRecord,
    PnlRecord,
    PriceRecord,
    TradeRecord,
)
from reconciliation.models.rules import RuleSet, RuleSetVersion
from reconciliation.models.runs import (
    Break,
    BreakComment,
    BreakObservation,
    Run,
    RunPartition,
    Schedule,
    TradeMatch,
)
from reconciliation.models.sources import Account, AssetAlias, ExchangeCredential, Source

__all__ = [
    "Account",
    "AssetAlias",
    "BalanceRecord",
    "Break",
    "BreakComment",
    "BreakObservation",
    "Dataset",
    "ExchangeCredential",
    "LedgerEntryRecord",
    "MarginRecord",
    "PnlRecord",
    "PriceRecord",
    "RuleSet",
    "RuleSetVersion",
    "Run",
    "RunPartition",
    "Schedule",
    "Source",
    "TradeMatch",
    "TradeRecord",
]
