from decimal import Decimal

import pytest

from reconciliation.demo import data as demo_data
from reconciliation.models import BalanceRecord, Dataset, LedgerEntryRecord, TradeRecord

pytestmark = pytest.mark.django_db


def _exchange_closing(asset: str, wallet: str = "spot / main") -> Decimal:
    entry = (
        LedgerEntryRecord.objects.filter(asset=asset, wallet=wallet)
        .order_by("-occurred_at", "-row_number")
        .first()
    )
    return entry.balance


def test_demo_loads_once_with_deliberate_differences():
    first = demo_data.load()
    assert demo_data.load() == first
    assert Dataset.objects.count() == len(first) == 8
    book = dict(BalanceRecord.objects.values_list("asset", "quantity"))
    assert book["ETH"] == _exchange_closing("ETH") * 10
    # Kraken's USD withdrawal (amount and its fee) is missing from the book.
    withdrawal = LedgerEntryRecord.objects.get(entry_id="LTCEI1-P2EI8-1OYH8H")
    assert withdrawal.type == "withdrawal"
    assert book["USD"] - _exchange_closing("USD") == withdrawal.fee - withdrawal.amount
    assert book["SOL.S"] == -_exchange_closing("SOL", "earn / bonded")
    assert "ADA.F" not in book and "ADA" in book
    book_trades = TradeRecord.objects.filter(dataset_id=first["book trades"])
    assert book_trades.filter(trade_id__endswith="a").count() == 1
    assert book_trades.filter(exchange_trade_id="").count() == 1
