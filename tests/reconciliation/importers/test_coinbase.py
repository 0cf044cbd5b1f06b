"""Coinbase transaction history: layouts C1-C5, cash legs, the sample's net change, errors."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from reconciliation.importers import coinbase
from reconciliation.importers.base import COLUMNS, FileRejected

DATA = Path(__file__).resolve().parents[2] / "data" / "exchange"
EXPECTED = json.loads((DATA / "expected.json").read_text())
ALIASES = {"ETH2": "ETH"}

DISCLAIMER = (
    '"You can use this transaction report to inform your likely tax obligations. For US '
    "customers, Sells, Converts, and Rewards Income, and Coinbase Earn transactions are taxable "
    'events. For final tax obligations, please consult your tax advisor."\n'
)
PREAMBLE_C4 = (
    "\nTransactions\nUser,Recondesk Demo Trading Ltd,3e8a61c4-2d9b-5f07-a1e3-7c54b0d2f981\n"
)


def parse(text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return coinbase.parse_transactions(data, aliases=ALIASES)


def loaded(text: str | bytes) -> list[dict]:
    parsed = parse(text)
    assert parsed.ok, [str(e) for e in parsed.errors.first()]
    assert parsed.kind == "ledger"
    assert parsed.table.column_names == list(COLUMNS["ledger"])
    return parsed.table.to_pylist()


def legs(rows: list[dict]) -> list[tuple]:
    return [(r["entry_id"], r["asset"], r["amount"], r["fee"], r["type"]) for r in rows]


def net(rows: list[dict]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row["asset"]] += Decimal(row["amount"]) - Decimal(row["fee"])
    return dict(totals)


# --- Layouts ------------------------------------------------------------------------------------


def test_c1_currency_in_the_column_names_and_unsigned_quantities():
    text = (
        DISCLAIMER + "\n\nTransactions\nUser,trader@example.com,5a1f2e3d4c5b6a7980a1b2c3\n\n"
        "Timestamp,Transaction Type,Asset,Quantity Transacted,USD Spot Price at Transaction,"
        "USD Subtotal,USD Total (inclusive of fees),USD Fees,Notes\n"
        "2021-02-08T18:22:22Z,Buy,BTC,0.0103,46244.53,476.32,490.00,13.68,"
        "Bought 0.0103 BTC for $490.00 USD\n"
        "2021-02-09T09:01:40Z,Send,BTC,0.005,46640.01,,,,"
        "Sent 0.005 BTC to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT\n"
        "2021-02-10T21:44:03Z,Sell,BTC,0.002,44807.58,89.62,87.64,1.98,"
        "Sold 0.0020 BTC for $87.64 USD\n"
    )
    rows = loaded(text)
    assert [r["row_number"] for r in rows] == [8, 8, 9, 10, 10]
    ids = [r["entry_id"] for r in rows]
    assert ids[0] == "2021-02-08T18:22:22Z-BTC-buy" and ids[1] == ids[0] + "-cash"
    assert [(r["asset"], r["amount"], r["fee"], r["subtype"]) for r in rows] == [
        ("BTC", "0.0103", "0", ""),
        ("USD", "-490.00", "0", "cash"),
        ("BTC", "-0.005", "0", ""),  # a Send leaves the account: sign from the type
        ("BTC", "-0.002", "0", ""),
        ("USD", "87.64", "0", "cash"),
    ]
    assert rows[0]["occurred_at"] == datetime(2021, 2, 8, 18, 22, 22, tzinfo=UTC)
    extra = json.loads(rows[0]["extra"])
    assert extra["fee"] == "13.68" and extra["fee_currency"] == "USD"
    assert extra["USD Spot Price at Transaction"] == "46244.53"
    assert extra["Notes"] == "Bought 0.0103 BTC for $490.00 USD"
    assert net(rows) == {"BTC": Decimal("0.0033"), "USD": Decimal("-402.36")}


def test_c2_spot_price_currency_and_single_row_convert():
    text = (
        DISCLAIMER + "\n\nTransactions\nUser,Jane Doe,5a1f2e3d4c5b6a7980a1b2c3\n\n"
        "Timestamp,Transaction Type,Asset,Quantity Transacted,Spot Price Currency,"
        "Spot Price at Transaction,Subtotal,Total (inclusive of fees),Fees,Notes\n"
        "2021-11-02T10:15:00Z,Buy,ETH,0.25,EUR,3800.00,950.00,964.85,14.85,"
        "Bought 0.25 ETH for € 964.85 EUR\n"
        "2021-11-03T16:40:12Z,Convert,ETH,0.1,EUR,3850.12,381.16,385.01,3.85,"
        "Converted 0.1 ETH to 0.0062 BTC\n"
        "2021-11-04T08:00:00Z,Receive,ETH2,0.01,EUR,3900.00,39.00,39.00,0.00,"
        "Received 0.01 ETH2 from Coinbase\n"
    )
    rows = loaded(text)
    assert [(r["asset"], r["amount"], r["type"], r["subtype"]) for r in rows] == [
        ("ETH", "0.25", "buy", ""),
        ("EUR", "-964.85", "buy", "cash"),
        ("ETH", "-0.1", "convert", ""),  # the source of a one-row convert leaves
        ("ETH", "0.01", "receive", ""),  # ETH2 -> ETH through the aliases
    ]
    assert json.loads(rows[2]["extra"])["Notes"] == "Converted 0.1 ETH to 0.0062 BTC"
    assert json.loads(rows[0]["extra"])["fee_currency"] == "EUR"


def test_c3_fees_and_spread():
    text = (
        DISCLAIMER + "\n\n\nTransactions\nUser,Jane Doe,5a1f2e3d4c5b6a7980a1b2c3\n\n"
        "Timestamp,Transaction Type,Asset,Quantity Transacted,Spot Price Currency,"
        "Spot Price at Transaction,Subtotal,Total (inclusive of fees and/or spread),"
        "Fees and/or Spread,Notes\n"
        "2022-06-13T07:30:45Z,Sell,SOL,12.5,USD,27.5,343.75,338.66,5.09,"
        "Sold 12.5 SOL for 338.66 USD\n"
        "2022-06-14T00:00:03Z,Rewards Income,SOL,0.0213,USD,28.1,0.60,0.60,0.00,\n"
        "2022-06-15T19:02:11Z,Withdrawal,USD,338.66,USD,1,338.66,338.66,0.00,\n"
    )
    rows = loaded(text)
    assert legs(rows) == [
        ("2022-06-13T07:30:45Z-SOL-sell", "SOL", "-12.5", "0", "sell"),
        ("2022-06-13T07:30:45Z-SOL-sell-cash", "USD", "338.66", "0", "sell"),
        ("2022-06-14T00:00:03Z-SOL-rewards-income", "SOL", "0.0213", "0", "rewards income"),
        ("2022-06-15T19:02:11Z-USD-withdrawal", "USD", "-338.66", "0", "withdrawal"),
    ]
    assert net(rows) == {"SOL": Decimal("-12.4787"), "USD": Decimal("0.00")}


def test_c3b_price_currency_without_spot():
    text = (
        "\n\n\nTransactions\nUser,Jane Doe,5a1f2e3d4c5b6a7980a1b2c3\n\n"
        "Timestamp,Transaction Type,Asset,Quantity Transacted,Price Currency,"
        "Price at Transaction,Subtotal,Total (inclusive of fees and/or spread),"
        "Fees and/or Spread,Notes\n"
        "2023-04-01T12:00:00Z,Advanced Trade Buy,ETH,0.5,GBP,1450.00,725.00,727.90,2.90,\n"
        "2023-04-02T12:00:00Z,Advanced Trade Sell,ETH,0.2,GBP,1500.00,300.00,298.80,1.20,\n"
    )
    rows = loaded(text)
    assert [(r["asset"], r["amount"]) for r in rows] == [
        ("ETH", "0.5"),
        ("GBP", "-727.90"),
        ("ETH", "-0.2"),
        ("GBP", "298.80"),
    ]


def test_c4_id_euro_symbols_and_negative_placements():
    text = (
        PREAMBLE_C4 + "ID,Timestamp,Transaction Type,Asset,Quantity Transacted,Price Currency,"
        "Price at Transaction,Subtotal,Total (inclusive of fees and/or spread),"
        "Fees and/or Spread,Notes\n"
        "67869271a3bd5e2f8c4d1b09,2025-01-14 16:36:01 UTC,Advanced Trade Sell,BTC,-0.0065,EUR,"
        "€92000.50,€598.00,€597.49846,€0.50154,Sold 0.0065 BTC for 597.49846 EUR on BTC-EUR "
        "at 92000.50 EUR/BTC\n"
        "6785a1c2b4e3d2f1a0c9b8a7,2025-01-13 09:20:17 UTC,Withdrawal,EUR,-1517,EUR,€1.00,"
        "-€1517.00,-€1517.00,€0.00,Withdrawal to DE89 3704 0044 0532 0130 00\n"
        "6784f0e1d2c3b4a5f6e7d8c9,2025-01-12 18:04:55 UTC,Convert,BTC,0.00363125,EUR,"
        "€91522.40,€332.35,€332.35,,Converted 0.00363125 BTC to 156.145683 XRP\n"
    )
    rows = loaded(text)
    assert [r["row_number"] for r in rows] == [5, 5, 6, 7]
    assert legs(rows) == [
        ("67869271a3bd5e2f8c4d1b09", "BTC", "-0.0065", "0", "advanced trade sell"),
        ("67869271a3bd5e2f8c4d1b09-cash", "EUR", "597.49846", "0", "advanced trade sell"),
        ("6785a1c2b4e3d2f1a0c9b8a7", "EUR", "-1517", "0", "withdrawal"),
        ("6784f0e1d2c3b4a5f6e7d8c9", "BTC", "-0.00363125", "0", "convert"),  # unsigned source
    ]
    assert rows[0]["reference"] == rows[1]["reference"] == "67869271a3bd5e2f8c4d1b09"
    assert rows[0]["occurred_at"] == datetime(2025, 1, 14, 16, 36, 1, tzinfo=UTC)
    assert json.loads(rows[0]["extra"])["fee"] == "0.50154"
    assert json.loads(rows[3]["extra"])["fee"] == "0"


def test_c5_sender_recipient_and_two_row_convert():
    text = (
        PREAMBLE_C4 + "ID,Timestamp,Transaction Type,Asset,Quantity Transacted,Price Currency,"
        "Price at Transaction,Subtotal,Total (inclusive of fees and/or spread),"
        "Fees and/or Spread,Notes,Sender Address,Recipient Address\n"
        "6961f9b1a2207e4c91ec75f6,2026-01-10 07:03:13 UTC,Convert,SOL,-5.50424215,USD,"
        "$221.305,$1218.12,$1218.12,$0.00,,,\n"
        "6961f9b1a2207e4c91ec75f6,2026-01-10 07:03:13 UTC,Convert,USDC,1205.94,USD,$1.00,"
        "$1205.94,$1218.12,$12.18,,,\n"
        "6992a189fe8264958c3a6f80,2026-02-16 04:48:09 UTC,Sell,SOL,-7.62093982,USD,$192.281,"
        "$1465.36,$1443.53,-21.83,Sold 7.62093982 SOL for 1443.53 USD,,\n"
        "699780699944d78b5197c61d,2026-02-19 21:28:09 UTC,Send,SOL,-3.21080792,USD,$181.17,"
        "-$581.70207,-$581.70207,-$4.41,Sent 3.21080792 SOL to NbPm9BpQ,,NbPm9BpQ\n"
    )
    rows = loaded(text)
    assert legs(rows) == [
        ("6961f9b1a2207e4c91ec75f6-1", "SOL", "-5.50424215", "0", "convert"),
        ("6961f9b1a2207e4c91ec75f6-2", "USDC", "1205.94", "0", "convert"),
        ("6992a189fe8264958c3a6f80", "SOL", "-7.62093982", "0", "sell"),
        ("6992a189fe8264958c3a6f80-cash", "USD", "1443.53", "0", "sell"),
        ("699780699944d78b5197c61d", "SOL", "-3.21080792", "0", "send"),
    ]
    assert {r["reference"] for r in rows[:2]} == {"6961f9b1a2207e4c91ec75f6"}
    fees = [json.loads(r["extra"])["fee"] for r in rows]
    assert fees == ["0.00", "12.18", "21.83", "21.83", "4.41"]  # -21.83 and -$4.41 are fees
    assert json.loads(rows[4]["extra"])["Recipient Address"] == "NbPm9BpQ"


def test_crlf_and_lf_give_the_same_rows():
    text = (DATA / "coinbase_transactions.csv").read_bytes()
    assert b"\r\n" in text
    assert loaded(text) == loaded(text.replace(b"\r\n", b"\n"))


def test_bom_before_the_preamble():
    text = (DATA / "coinbase_transactions.csv").read_bytes()
    assert loaded(b"\xef\xbb\xbf" + text) == loaded(text)


# --- The sample export --------------------------------------------------------------------------


def test_sample_net_change_per_asset():
    expected = EXPECTED["files"]["coinbase_transactions.csv"]
    rows = loaded((DATA / "coinbase_transactions.csv").read_bytes())
    source_rows = [r for r in rows if r["subtype"] != "cash"]
    assert len(source_rows) == expected["data_rows"] == 95
    cash = [r for r in rows if r["subtype"] == "cash"]
    assert all(r["entry_id"].endswith("-cash") and r["asset"] == "USD" for r in cash)
    assert {r["type"] for r in cash} <= {"buy", "sell", "advanced trade buy", "advanced trade sell"}
    want = {asset: Decimal(value) for asset, value in expected["net_by_asset"].items()}
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        sums[row["asset"]] += Decimal(row["amount"])
    assert dict(sums) == want
    assert net(rows) == want  # the fee column holds nothing to subtract twice
    assert len({r["entry_id"] for r in rows}) == len(rows)
    assert [r["row_number"] for r in source_rows] == list(range(5, 100))


# --- Errors -------------------------------------------------------------------------------------

C5_HEADER = (
    "ID,Timestamp,Transaction Type,Asset,Quantity Transacted,Price Currency,"
    "Price at Transaction,Subtotal,Total (inclusive of fees and/or spread),"
    "Fees and/or Spread,Notes,Sender Address,Recipient Address\n"
)
C5_ROW = (
    "699b8bc91e03c879c73567f2,2026-02-22 23:05:45 UTC,Buy,BTC,0.00042547,USD,$112838.116,"
    "$48.01,$50.00,$1.99,Bought 0.00042547 BTC for 50 USD,,\n"
)


def test_no_header_line():
    with pytest.raises(FileRejected, match="ID,Timestamp"):
        parse("Transactions\nUser,x,y\nDate,Kind,Coin\n")


def test_missing_column_is_named():
    header = C5_HEADER.replace("Quantity Transacted,", "")
    row = C5_ROW.replace("0.00042547,USD", "USD", 1)
    with pytest.raises(FileRejected) as caught:
        parse(PREAMBLE_C4 + header + row)
    assert "missing column(s) Quantity Transacted" in caught.value.reason


def test_unparsable_number_keeps_the_value_as_written():
    parsed = parse(PREAMBLE_C4 + C5_HEADER + C5_ROW + C5_ROW.replace("$50.00", "$5O.00"))
    assert parsed.table is None
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (
        6, "Total (inclusive of fees and/or spread)", "$5O.00",
    )  # fmt: skip


def test_unparsable_timestamp():
    parsed = parse(PREAMBLE_C4 + C5_HEADER + C5_ROW.replace("2026-02-22 23:05:45", "22/02/2026"))
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (5, "Timestamp", "22/02/2026 UTC")


def test_buy_without_total_is_an_error():
    parsed = parse(PREAMBLE_C4 + C5_HEADER + C5_ROW.replace("$50.00", ""))
    [error] = parsed.errors.first()
    assert (error.row, error.column) == (5, "Total (inclusive of fees and/or spread)")
