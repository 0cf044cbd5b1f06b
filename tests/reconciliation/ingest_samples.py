"""Files and helpers the ingest tests share: exact extremes, a balances and a trades file."""

import pytest

from audit.models import AuditEvent
from reconciliation.datasets import ingest
from reconciliation.models import BalanceRecord, Dataset, TradeRecord

TINY = "0.000000000000000001"
HUGE = "12345678901234567890.123456789012345678"
BALANCES = (
    "account,asset,quantity,as_of\n"
    f"main,BTC,{HUGE},2026-02-27T10:16:05Z\n"
    f"main,ETH,{TINY},2026-02-27T10:16:05+00:00\n"
)
TRADES = (
    "trade_id,account,pair,side,quantity,price,fee,fee_asset,executed_at,order_id,desk\n"
    'T1,main,BTC/USD,buy,0.5,60000.10,1.25,USD,2026-01-02T03:04:05.123456Z,O1,"spot, crypto"\n'
    "T2,main,ETH/USD,sell,2,3000,0.9,USD,2026-01-02T04:00:00+01:00,O2,x\n"
)


def load(account, text, fmt="generic-balances", name="book.csv"):
    data = text.encode() if isinstance(text, str) else text
    return ingest.import_file(
        source=account.source, account=account, format_code=fmt, data=data, filename=name
    )


def rejected(account, text, fmt="generic-balances", name="book.csv"):
    with pytest.raises(ingest.DatasetRejected) as caught:
        load(account, text, fmt, name)
    assert Dataset.objects.count() == 0
    assert BalanceRecord.objects.count() == TradeRecord.objects.count() == 0
    assert not AuditEvent.objects.filter(action="dataset.imported").exists()
    return caught.value
