"""A comma in a number is read only where it cannot be anything but a thousands separator.

`0,2830` is a decimal comma (a spreadsheet in a European locale) or nothing; `1,234` is 1234 or
1.234: either way a guess can store a number a thousand times off, the worst outcome in a finance
tool. Such values are row errors naming the value as written; `1,234.56` and `1,234,567` are
unambiguous and read exactly. Checked for every exporter whose numbers may carry grouping
(Binance spot trades, Coinbase transactions), every numeric column of each.
"""

from __future__ import annotations

import pytest

from reconciliation.importers import binance, coinbase

AMBIGUOUS = ["0,2830", "1,234", "12,345", "1.234,56", "1,2345.6", "0,123,456.1", "1,23,456.00"]
GROUPED = {"1,234.56": "1234.56", "1,234,567": "1234567", "12,345.": "12345",
           "123,456,789.0001": "123456789.0001"}  # fmt: skip

BINANCE_ROW = {"Price": "42000.5", "Executed": "0.5BTC", "Amount": "21000.25USDT",
               "Fee": "0.01BNB"}  # fmt: skip
BINANCE_CANONICAL = {"Price": "price", "Executed": "quantity", "Amount": "cost", "Fee": "fee"}


def binance_file(column: str, number: str) -> bytes:
    row = dict(BINANCE_ROW)
    row[column] = number + row[column].lstrip("0123456789.")  # keep the asset suffix
    fields = ",".join(f'"{v}"' for v in row.values())
    header = "Date(UTC),Pair,Side,Price,Executed,Amount,Fee\n"
    return f"{header}2024-01-01 00:00:00,BTCUSDT,BUY,{fields}\n".encode()


COINBASE_HEADER = (
    "\nTransactions\nUser,Someone,3e8a61c4\n"
    "ID,Timestamp,Transaction Type,Asset,Quantity Transacted,Price Currency,Price at Transaction,"
    "Subtotal,Total (inclusive of fees and/or spread),Fees and/or Spread,Notes\n"
)
COINBASE_ROW = {
    "Quantity Transacted": "0.5",
    "Total (inclusive of fees and/or spread)": "€21,000.25",
    "Fees and/or Spread": "€1.99",
}


def coinbase_file(column: str, number: str) -> bytes:
    row = dict(COINBASE_ROW)
    row[column] = ("€" if row[column].startswith("€") else "") + number
    quantity, total, fees = (f'"{row[name]}"' for name in COINBASE_ROW)
    return (
        COINBASE_HEADER + f"699b8bc91e03c879c73567f2,2026-02-22 23:05:45 UTC,Buy,BTC,{quantity},"
        f"EUR,€42000.5,€20998.26,{total},{fees},Bought\n"
    ).encode()


@pytest.mark.parametrize("number", AMBIGUOUS)
@pytest.mark.parametrize("column", BINANCE_ROW)
def test_binance_refuses_an_ambiguous_comma_by_row(column, number):
    parsed = binance.parse_trades(binance_file(column, number), aliases={})
    assert parsed.table is None
    [error] = parsed.errors.first()
    assert (error.row, error.column) == (2, column)
    assert number in error.value and "comma" in error.reason


@pytest.mark.parametrize("number", GROUPED)
@pytest.mark.parametrize("column", BINANCE_ROW)
def test_binance_reads_unambiguous_grouping_exactly(column, number):
    parsed = binance.parse_trades(binance_file(column, number), aliases={})
    assert parsed.ok, [str(e) for e in parsed.errors.first()]
    assert parsed.table[BINANCE_CANONICAL[column]][0].as_py() == GROUPED[number]


@pytest.mark.parametrize("number", AMBIGUOUS)
@pytest.mark.parametrize("column", COINBASE_ROW)
def test_coinbase_refuses_an_ambiguous_comma_by_row(column, number):
    parsed = coinbase.parse_transactions(coinbase_file(column, number), aliases={})
    assert parsed.table is None
    [error] = parsed.errors.first()
    assert (error.row, error.column) == (5, column)
    assert number in error.value and "comma" in error.reason


@pytest.mark.parametrize("number", GROUPED)
def test_coinbase_reads_unambiguous_grouping_exactly(number):
    parsed = coinbase.parse_transactions(coinbase_file("Quantity Transacted", number), aliases={})
    assert parsed.ok, [str(e) for e in parsed.errors.first()]
    assert parsed.table["amount"][0].as_py() == GROUPED[number]
    [cash] = [row for row in parsed.table.to_pylist() if row["leg"] == 1]
    assert cash["amount"] == "-21000.25"  # the Total, grouped in the file
