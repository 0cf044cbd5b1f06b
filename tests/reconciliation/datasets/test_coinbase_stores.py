"""Every Coinbase layout (2021 to 2026) stores its buys and sells with their cash legs.

The parser tests (importers/test_coinbase.py) read each layout; these store one of each and
read it back, which is where every Coinbase import used to fail (two records, one row).
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from reconciliation.datasets import ingest
from reconciliation.models import Account, LedgerEntryRecord, Source

pytestmark = pytest.mark.django_db

PREAMBLE = "\nTransactions\nUser,Recondesk Demo Trading Ltd,3e8a61c4-2d9b-5f07-a1e3-7c54b0d2f981\n"
HEADERS = {
    "C1 (2021, currency in the names)": (
        "Timestamp,Transaction Type,Asset,Quantity Transacted,USD Spot Price at Transaction,"
        "USD Subtotal,USD Total (inclusive of fees),USD Fees,Notes"
    ),
    "C2 (2021, spot price currency)": (
        "Timestamp,Transaction Type,Asset,Quantity Transacted,Spot Price Currency,"
        "Spot Price at Transaction,Subtotal,Total (inclusive of fees),Fees,Notes"
    ),
    "C3 (2023, fees and/or spread)": (
        "Timestamp,Transaction Type,Asset,Quantity Transacted,Price Currency,"
        "Price at Transaction,Subtotal,Total (inclusive of fees and/or spread),"
        "Fees and/or Spread,Notes"
    ),
    "C4 (2025, ids)": (
        "ID,Timestamp,Transaction Type,Asset,Quantity Transacted,Price Currency,"
        "Price at Transaction,Subtotal,Total (inclusive of fees and/or spread),"
        "Fees and/or Spread,Notes"
    ),
}
# Three rows in every layout: a buy (two records), a sell (two), a send (one).
ROWS = [
    ("2024-03-01T10:00:00Z", "Buy", "BTC", "0.0103", "46244.53", "476.32", "490.00", "13.68"),
    ("2024-03-02T10:00:00Z", "Advanced Trade Sell", "BTC", "0.002", "44807.58", "89.62",
     "87.64", "1.98"),
    ("2024-03-03T10:00:00Z", "Send", "BTC", "0.005", "46640.01", "", "", ""),
]  # fmt: skip
NET = {"BTC": Decimal("0.0033"), "USD": Decimal("-402.36")}  # 0.0103-0.002-0.005; -490+87.64


def coinbase_file(layout: str) -> bytes:
    header = HEADERS[layout]
    lines = [PREAMBLE + header]
    for number, (time, kind, asset, quantity, price, subtotal, total, fee) in enumerate(ROWS):
        if "ID" in header.split(","):
            quantity = quantity if kind == "Buy" else f"-{quantity}"
            time = time.replace("T", " ").replace("Z", " UTC")
            money = [f"${value}" if value else "" for value in (price, subtotal, total, fee)]
            cells = [f"65e1a2b3c4d5e6f7a8b9c0d{number}", time, kind, asset, quantity, "USD",
                     *money, ""]  # fmt: skip
        elif header.startswith("Timestamp,Transaction Type,Asset,Quantity Transacted,USD"):
            cells = [time, kind, asset, quantity, price, subtotal, total, fee, ""]
        else:
            cells = [time, kind, asset, quantity, "USD", price, subtotal, total, fee, ""]
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("layout", HEADERS)
def test_every_coinbase_layout_stores_its_cash_legs(layout, tmp_path):
    source = Source.objects.create(
        code="coinbase", name="Coinbase", kind="exchange", exchange="coinbase"
    )
    account = Account.objects.create(source=source, code="main")
    result = ingest.import_file(
        source=source, account=account, format_code="coinbase", data=coinbase_file(layout),
        filename="coinbase.csv",
    )  # fmt: skip
    records = LedgerEntryRecord.objects.filter(dataset=result.dataset)
    legs = list(records.order_by("row_number", "leg").values_list("row_number", "leg", "asset"))
    first = legs[0][0]
    assert legs == [
        (first, 0, "BTC"), (first, 1, "USD"),
        (first + 1, 0, "BTC"), (first + 1, 1, "USD"),
        (first + 2, 0, "BTC"),
    ]  # fmt: skip
    path = tmp_path / "ledger.csv"
    call_command("export_dataset", str(result.dataset.pk), "--output", str(path),
                 stderr=io.StringIO())  # fmt: skip
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    net: dict[str, Decimal] = {}
    for row in rows:
        net[row["asset"]] = net.get(row["asset"], Decimal(0)) + Decimal(row["amount"])
    assert net == NET
