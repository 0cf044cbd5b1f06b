"""The adjustments a run merges, read back exactly as written: NULL and empty text apart, a text
that spells a null ("NA", "null") kept, decimals to the 18th place, JSON rows with commas and
quotes, in id order, and only up to a run's `adjustments_through`."""

from decimal import Decimal

import pytest

from reconciliation.book import selectors, services
from reconciliation.datasets import ingest
from reconciliation.datasets import services as datasets
from reconciliation.engine import book as engine_book

pytestmark = pytest.mark.django_db

TRADES = (
    "trade_id,account,pair,side,quantity,price,fee,fee_asset,executed_at\n"
    "T1,main,XBT/USD,buy,1.5,50000,1.25,USD,2026-02-25T02:48:00Z\n"
)


@pytest.fixture
def dataset():
    account, _ = datasets.ensure_account(
        source_code="book", account_code="main", kind="internal", by=None
    )
    return ingest.import_file(source=account.source, account=account, format_code="generic-trades",
                              data=TRADES.encode(), filename="t.csv").dataset  # fmt: skip


def test_adjustments_come_back_as_written(dataset):
    assert selectors.adjustments_frame(dataset).schema == engine_book.ADJUSTMENTS
    assert selectors.adjustments_frame(dataset).is_empty()
    row = {"trade_id": "T2", "pair": 'XBT/USD, "spot"', "quantity": "0.000000000000000001"}
    changes = [
        services.Change("trades", "main", "T1", "fee", "add", Decimal("-0.000000000000000001")),
        services.Change("trades", "main", "T1", "fee_asset", "set", value="NA", previous="USD"),
        services.Change("trades", "main", "T1", "side", "set", value="null", previous="buy"),
        services.Change("trades", "main", "T2", "", "insert", row=row),
    ]
    services.write_sets([(dataset, changes[:2], "one")])
    services.write_sets([(dataset, changes[2:], "two")])
    frame = selectors.adjustments_frame(dataset)
    assert frame.get_column("key").to_list() == ["T1", "T1", "T1", "T2"]
    assert frame.get_column("id").is_sorted()
    assert frame.get_column("delta").to_list() == [Decimal("-0.000000000000000001"), None, None,
                                                   None]  # fmt: skip
    assert frame.get_column("value").to_list() == ["", "NA", "null", ""]
    rows = frame.get_column("row").to_list()
    assert rows[:3] == [None, None, None] and '"XBT/USD, \\"spot\\""' in rows[3]
    through = frame.get_column("id").to_list()[1]
    assert selectors.adjustments_frame(dataset, through).height == 2
