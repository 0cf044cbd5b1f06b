"""Binance spot trade history: layouts B1-B4, suffix stripping, time zones, net change, errors."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from reconciliation.importers import binance
from reconciliation.importers.base import COLUMNS, FileRejected

DATA = Path(__file__).resolve().parents[2] / "data" / "exchange"
EXPECTED = json.loads((DATA / "expected.json").read_text())
ALIASES: dict[str, str] = {}

B2_HEADER = '"Date(UTC)","Pair","Side","Price","Executed","Amount","Fee"\n'


def parse(text: str | bytes, filename: str = ""):
    data = text.encode() if isinstance(text, str) else text
    return binance.parse_trades(data, aliases=ALIASES, filename=filename)


def loaded(text: str | bytes, filename: str = "") -> list[dict]:
    parsed = parse(text, filename)
    assert parsed.ok, [str(e) for e in parsed.errors.first()]
    assert parsed.kind == "trades"
    assert parsed.table.column_names == list(COLUMNS["trades"])
    return parsed.table.to_pylist()


def essentials(row: dict) -> tuple:
    return (
        row["pair"], row["base"], row["quote"], row["side"], row["quantity"], row["price"],
        row["cost"], row["fee"], row["fee_asset"],
    )  # fmt: skip


def net(rows: list[dict]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        sign = 1 if row["side"] == "buy" else -1
        totals[row["base"]] += sign * Decimal(row["quantity"])
        totals[row["quote"]] -= sign * Decimal(row["cost"])
        totals[row["fee_asset"]] -= Decimal(row["fee"])
    return dict(totals)


# --- Layouts ------------------------------------------------------------------------------------


def test_b1_market_type_total_fee_coin():
    rows = loaded(
        "Date(UTC),Market,Type,Price,Amount,Total,Fee,Fee Coin\n"
        "2019-03-04 12:01:22,BNBBTC,BUY,0.0027410,10.00,0.02741000,0.00750000,BNB\n"
        "2019-03-04 12:05:40,ETHUSDT,SELL,131.52,0.500,65.76000000,0.06576000,USDT\n"
    )
    assert [essentials(r) for r in rows] == [
        ("BNB/BTC", "BNB", "BTC", "buy", "10.00", "0.0027410", "0.02741000", "0.00750000", "BNB"),
        ("ETH/USDT", "ETH", "USDT", "sell", "0.500", "131.52", "65.76000000", "0.06576000",
         "USDT"),
    ]  # fmt: skip
    assert rows[0]["executed_at"] == datetime(2019, 3, 4, 12, 1, 22, tzinfo=UTC)
    assert rows[0]["trade_id"] == "2019-03-04T12:01:22Z-BNBBTC-buy-1"
    assert rows[0]["order_id"] == "" and rows[0]["extra"] == "{}"


def test_b2_unquoted_with_thousands_separators():
    rows = loaded(
        "Date(UTC),Pair,Side,Price,Executed,Amount,Fee\n"
        '2018-01-20 21:49:39,APPCBTC,BUY,0.0000412000,"11,426.2000000000APPC",0.47075944BTC,'
        "11.4262000000APPC\n"
        "2018-01-20 21:49:39,BNBETH,BUY,0.0076230000,5.0000000000BNB,0.03811500ETH,"
        "0.0037500000BNB\n"
        '2018-01-20 21:49:39,BNBETH,BUY,0.0076230000,"1,000.0000000000BNB",7.62300000ETH,'
        "0.7500000000BNB\n"
    )
    assert [essentials(r) for r in rows] == [
        ("APPC/BTC", "APPC", "BTC", "buy", "11426.2000000000", "0.0000412000", "0.47075944",
         "11.4262000000", "APPC"),
        ("BNB/ETH", "BNB", "ETH", "buy", "5.0000000000", "0.0076230000", "0.03811500",
         "0.0037500000", "BNB"),
        ("BNB/ETH", "BNB", "ETH", "buy", "1000.0000000000", "0.0076230000", "7.62300000",
         "0.7500000000", "BNB"),
    ]  # fmt: skip
    # two fills of one order in the same second stay two trades, numbered in file order
    assert [r["trade_id"] for r in rows[1:]] == [
        "2018-01-20T21:49:39Z-BNBETH-buy-1",
        "2018-01-20T21:49:39Z-BNBETH-buy-2",
    ]


def test_b2_quoted_digit_led_base():
    rows = loaded(
        B2_HEADER
        + '"2026-02-21 08:09:24","1INCHUSDT","SELL","0.2830000000","4850.10000000001INCH",'
        '"1372.57830000USDT","1.3725783000USDT"\n'
        '"2026-02-20 10:00:00","1INCHUSDT","BUY","0.2800000000","100.00000000001INCH",'
        '"28.00000000USDT","100.00000000001INCH"\n'
        '"2026-02-19 09:30:11","BTCFDUSD","BUY","97000.0000000000","0.0100000000BTC",'
        '"970.00000000FDUSD","0.0000072750BNB"\n'
    )
    assert [essentials(r) for r in rows] == [
        ("1INCH/USDT", "1INCH", "USDT", "sell", "4850.1000000000", "0.2830000000",
         "1372.57830000", "1.3725783000", "USDT"),
        ("1INCH/USDT", "1INCH", "USDT", "buy", "100.0000000000", "0.2800000000",
         "28.00000000", "100.0000000000", "1INCH"),
        ("BTC/FDUSD", "BTC", "FDUSD", "buy", "0.0100000000", "97000.0000000000",
         "970.00000000", "0.0000072750", "BNB"),
    ]  # fmt: skip


def test_b3_local_time_with_the_offset_in_the_file_name():
    text = (
        "Time,Pair,Side,Price,Executed,Amount,Fee\n"
        "23-03-23 04:06:00,PAXGUSDT,BUY,1980.5,0.075PAXG,148.5375USDT,0.000075PAXG\n"
        "23-03-23 22:30:15,VETUSDT,SELL,0.02291,43.7VET,1.001167USDT,0.001001167USDT\n"
    )
    name = "Binance-Spot-Trade-History-202603230406(UTC--6)_abcd.csv"
    parsed = parse(text, name)
    assert parsed.ok
    rows = parsed.table.to_pylist()
    assert [r["executed_at"] for r in rows] == [
        datetime(2023, 3, 23, 10, 6, tzinfo=UTC),
        datetime(2023, 3, 24, 4, 30, 15, tzinfo=UTC),  # crosses midnight in UTC
    ]
    assert parsed.notes == {"utc_offset": "-06:00"}
    assert [essentials(r) for r in rows] == [
        ("PAXG/USDT", "PAXG", "USDT", "buy", "0.075", "1980.5", "148.5375", "0.000075", "PAXG"),
        ("VET/USDT", "VET", "USDT", "sell", "43.7", "0.02291", "1.001167", "0.001001167",
         "USDT"),
    ]  # fmt: skip
    assert rows[0]["trade_id"] == "2023-03-23T10:06:00Z-PAXGUSDT-buy-1"


def test_b3_without_an_offset_assumes_utc_and_says_so():
    parsed = parse(
        "Time,Pair,Side,Price,Executed,Amount,Fee\n"
        "2025-06-01 08:00:00,ETHUSDC,BUY,2500,0.4ETH,1000USDC,0.0003ETH\n"
        "2025-06-01 08:00:01,ETHUSDC,BUY,2500,0.2ETH,500USDC,0.00015ETH\n",
        "trade-history.csv",
    )
    assert parsed.ok
    assert parsed.notes == {"time_zone_assumed": "UTC"}
    assert parsed.table["executed_at"].to_pylist()[0] == datetime(2025, 6, 1, 8, tzinfo=UTC)


def test_b4_order_no_and_aor_columns():
    rows = loaded(
        "Order No,Time,Pair,Side,Price,Executed,Amount,Fee,AOR Conversion Pair,"
        "AOR Conversion Rate\n"
        "38145128310,2026-01-15 14:22:05,SOLTRY,BUY,7350.5,2.5SOL,18376.25TRY,0.0025SOL,"
        "USDTTRY,34.21\n"
        "38145128310,2026-01-15 14:22:05,SOLTRY,BUY,7350.5,1SOL,7350.5TRY,0.001SOL,"
        "USDTTRY,34.21\n",
        "Binance-Spot-Trade-History-202601160800(UTC+3)_k2j4.csv",
    )
    assert [essentials(r) for r in rows] == [
        ("SOL/TRY", "SOL", "TRY", "buy", "2.5", "7350.5", "18376.25", "0.0025", "SOL"),
        ("SOL/TRY", "SOL", "TRY", "buy", "1", "7350.5", "7350.5", "0.001", "SOL"),
    ]
    assert [r["order_id"] for r in rows] == ["38145128310", "38145128310"]
    assert [r["trade_id"] for r in rows] == [
        "2026-01-15T11:22:05Z-SOLTRY-buy-1",
        "2026-01-15T11:22:05Z-SOLTRY-buy-2",
    ]
    assert json.loads(rows[0]["extra"]) == {
        "AOR Conversion Pair": "USDTTRY",
        "AOR Conversion Rate": "34.21",
    }


@pytest.mark.parametrize(
    ("name", "offset"),
    [
        ("Binance-Spot-Trade-History-202603230406(UTC--6)_abcd.csv", timedelta(hours=-6)),
        ("Binance-Spot-Trade-History-202603230406(UTC+8)_abcd.csv", timedelta(hours=8)),
        (
            "Binance-Spot-Trade-History-202603230406(UTC-+5:30)_x.csv",
            timedelta(hours=5, minutes=30),
        ),
        ("export(UTC-3).csv", timedelta(hours=-3)),
        ("export(UTC+0).csv", timedelta(0)),
        ("export.csv", None),
        ("", None),
    ],
)
def test_file_offset(name, offset):
    assert binance.file_offset(name) == offset


@pytest.mark.parametrize(
    ("pair", "split"),
    [
        ("BTCUSDT", ("BTC", "USDT")),
        ("ETHBTC", ("ETH", "BTC")),
        ("BTCFDUSD", ("BTC", "FDUSD")),
        ("1INCHUSDT", ("1INCH", "USDT")),
        ("USDCUSDT", ("USDC", "USDT")),
        ("BNBETH", ("BNB", "ETH")),
        ("BTCTUSD", ("BTC", "TUSD")),
        ("SOLEUR", ("SOL", "EUR")),
        ("USDTTRY", ("USDT", "TRY")),
        ("ETHDAI", ("ETH", "DAI")),
        ("BTC/USDT", ("BTC", "USDT")),
        ("FOOBAR", None),
    ],
)
def test_split_pair(pair, split):
    assert binance.split_pair(pair) == split


def test_unlisted_quote_is_taken_from_the_amount_suffix():
    rows = loaded(B2_HEADER + '"2026-01-01 00:00:00","ABCXYZ","BUY","2","1ABC","2XYZ","0.001BNB"\n')
    assert (rows[0]["base"], rows[0]["quote"]) == ("ABC", "XYZ")


# --- The sample export --------------------------------------------------------------------------


def test_sample_net_change_per_asset():
    expected = EXPECTED["files"]["binance_trades.csv"]
    rows = loaded((DATA / "binance_trades.csv").read_bytes())
    assert len(rows) == expected["data_rows"] == 115
    want = {asset: Decimal(value) for asset, value in expected["net_by_asset"].items()}
    assert net(rows) == want
    assert len({r["trade_id"] for r in rows}) == 115  # deterministic and unique, never merged
    for row in rows:  # Price x Executed = Amount exactly
        assert Decimal(row["price"]) * Decimal(row["quantity"]) == Decimal(row["cost"])
    again = loaded((DATA / "binance_trades.csv").read_bytes())
    assert [r["trade_id"] for r in again] == [r["trade_id"] for r in rows]


# --- Errors -------------------------------------------------------------------------------------

GOOD = '"2026-02-25 00:26:00","ETHBTC","BUY","0.0423900000","0.0210000000ETH","0.00089019BTC","0.0000795600BNB"\n'  # noqa: E501


def test_missing_column_is_named():
    with pytest.raises(FileRejected) as caught:
        parse(
            '"Date(UTC)","Pair","Side","Price","Executed","Fee"\n'
            '"2026-02-25 00:26:00","ETHBTC","BUY","0.0423900000","0.0210000000ETH",'
            '"0.0000795600BNB"\n'
        )
    assert "missing column(s) Amount" in caught.value.reason


def test_no_time_column():
    with pytest.raises(FileRejected, match="Date\\(UTC\\) or Time"):
        parse('"When","Pair","Side","Price","Executed","Amount","Fee"\n' + GOOD)


def test_unparsable_number_keeps_the_value_as_written():
    parsed = parse(B2_HEADER + GOOD + GOOD.replace("0.0210000000ETH", "0.02l0ETH"))
    assert parsed.table is None
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (3, "Executed", "0.02l0ETH")


def test_quantity_in_the_wrong_asset():
    parsed = parse(B2_HEADER + GOOD.replace("0.0210000000ETH", "0.0210000000BTC"))
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (2, "Executed", "0.0210000000BTC")
    assert "not in the pair's base ETH" in error.reason


def test_unparsable_date():
    parsed = parse(B2_HEADER + GOOD + GOOD.replace("2026-02-25 00:26:00", "25.02.2026 00:26"))
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (3, "Date(UTC)", "25.02.2026 00:26")


def test_impossible_two_digit_year_date_keeps_the_value_as_written():
    parsed = parse(
        "Time,Pair,Side,Price,Executed,Amount,Fee\n"
        "23-02-30 04:06:00,PAXGUSDT,BUY,1980.5,0.075PAXG,148.5375USDT,0.000075PAXG\n"
    )
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (2, "Time", "23-02-30 04:06:00")


def test_unsplittable_pair():
    parsed = parse(B2_HEADER + GOOD.replace('"ETHBTC"', '"FOOBAR"').replace("ETH", "FOO"))
    messages = [(e.row, e.column, e.value) for e in parsed.errors.first()]
    assert (2, "Pair", "FOOBAR") in messages


def test_bad_side():
    parsed = parse(B2_HEADER + GOOD.replace('"BUY"', '"HOLD"'))
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (2, "Side", "HOLD")
