"""Reconciliation data: where data comes from, the datasets loaded, and their records."""

from reconciliation.models.book import Adjustment, AdjustmentSet
from reconciliation.models.datasets import (
    BalanceRecord,
    Dataset,
    DatasetFrame,
    LedgerEntryRecord,
    MarginRecord,
    PnlRecord,
    PriceRecord,
    TradeRecord,
)
from reconciliation.models.imports import ImportJob
from reconciliation.models.rules import RuleSet, RuleSetVersion
from reconciliation.models.runs import (
    Break,
    BreakComment,
    BreakObservation,
    MatchChunk,
    Run,
    RunPartition,
    Schedule,
)
from reconciliation.models.sources import Account, AssetAlias, ExchangeCredential, Source

__all__ = [
    "Account",
    "Adjustment",
    "AdjustmentSet",
    "AssetAlias",
    "BalanceRecord",
    "Break",
    "BreakComment",
    "BreakObservation",
    "Dataset",
    "DatasetFrame",
    "ExchangeCredential",
    "ImportJob",
    "LedgerEntryRecord",
    "MarginRecord",
    "MatchChunk",
    "PnlRecord",
    "PriceRecord",
    "RuleSet",
    "RuleSetVersion",
    "Run",
    "RunPartition",
    "Schedule",
    "Source",
    "TradeRecord",
]
