"""Kraken trades.csv: every header variant, REST pair ids, the sample export's sums, errors."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from reconciliation.importers import kraken
from reconciliation.importers.assets import DEFAULT_ALIASES, aliases_for
from reconciliation.importers.base import COLUMNS, FileRejected, extra_json

DATA = Path(__file__).resolve().parents[2] / "data" / "exchange"
EXPECTED = json.loads((DATA / "expected.json").read_text())
ALIASES = aliases_for("kraken", DEFAULT_ALIASES)

T1_HEADER = "txid,ordertxid,pair,time,type,ordertype,price,cost,fee,vol,margin,misc,ledgers\n"
T3_HEADER = (
    '"txid","ordertxid","pair","aclass","subclass","time","type","ordertype","price","cost",'
    '"fee","vol","margin","misc","ledgers","posttxid","posstatuscode","cprice","ccost","cfee",'
    '"cvol","cmargin","net","trades"\n'
)


def parse(text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return kraken.parse_trades(data, aliases=ALIASES)


def loaded(text: str | bytes) -> list[dict]:
    parsed = parse(text)
    assert parsed.ok, [str(e) for e in parsed.errors.first()]
    assert parsed.kind == "trades"
    assert parsed.table.column_names == list(COLUMNS["trades"])
    return parsed.table.to_pylist()


def essentials(row: dict) -> tuple:
    return (
        row["trade_id"], row["pair"], row["base"], row["quote"], row["side"], row["quantity"],
        row["price"], row["cost"], row["fee"], row["fee_asset"],
    )  # fmt: skip


# --- Header variants ----------------------------------------------------------------------------


def test_t1_rest_pair_ids():
    rows = loaded(
        '"txid","ordertxid","pair","time","type","ordertype","price","cost","fee","vol",'
        '"margin","misc","ledgers"\n'
        '"TDLH43-DVQXD-2KHVYY","OQCLML-BW3P3-BUCMWZ","XXBTZUSD","2021-07-23 11:22:54.9881",'
        '"buy","limit",32004.90000,640.09800,1.02416,0.02000000,0.00000,"",'
        '"LKJZGH-PJ2CB-HSDBUQ, L3KFFN-XCP2N-SFYTRR"\n'
        '"TJKLXX-PSLSH-Y5VDCN","OB5VMB-B4U2U-DK2WRW","XETHZEUR","2021-07-23 12:01:03.1022",'
        '"sell","market",1648.83000,8.17997,0.01309,0.00496111,0.00000,"",'
        '"LRNDG6-RYSTD-GQNB7Z, LQGS4W-ZBL5T-4UNWWV"\n'
        '"TLX2EB-UBOPM-WYHRSQ","O5X3J6-PRTI4-2YCQDQ","XDGUSD","2021-07-24 08:15:40.0012",'
        '"buy","limit",0.1944000,97.2000000,0.2527200,500.00000000,0.00000,"",'
        '"LDQ3VE-Y5HZV-7UCPB6, LQ44SR-IVJLH-RS3XV7"\n'
        '"TW4BAV-KSNCH-YQHXQL","OAEGGA-PR2FD-K7O3XH","XETHXXBT","2021-07-24 09:00:00.5000",'
        '"buy","limit",0.06123000,0.03061500,0.00007960,0.50000000,0.00000,"",'
        '"L2XVUM-CKRZM-ETVZVM, LNNYO4-SFLZP-3WBQYC"\n'
    )
    assert [essentials(r) for r in rows] == [
        ("TDLH43-DVQXD-2KHVYY", "BTC/USD", "BTC", "USD", "buy", "0.02000000", "32004.90000",
         "640.09800", "1.02416", "USD"),
        ("TJKLXX-PSLSH-Y5VDCN", "ETH/EUR", "ETH", "EUR", "sell", "0.00496111", "1648.83000",
         "8.17997", "0.01309", "EUR"),
        ("TLX2EB-UBOPM-WYHRSQ", "DOGE/USD", "DOGE", "USD", "buy", "500.00000000", "0.1944000",
         "97.2000000", "0.2527200", "USD"),
        ("TW4BAV-KSNCH-YQHXQL", "ETH/BTC", "ETH", "BTC", "buy", "0.50000000", "0.06123000",
         "0.03061500", "0.00007960", "BTC"),
    ]  # fmt: skip
    first = rows[0]
    assert first["order_id"] == "OQCLML-BW3P3-BUCMWZ"
    assert first["exchange_trade_id"] == "" and first["account"] == ""
    assert first["executed_at"] == datetime(2021, 7, 23, 11, 22, 54, 988100, tzinfo=UTC)
    assert json.loads(first["extra"]) == {  # empty values are left out
        "ordertype": "limit",
        "margin": "0.00000",
        "ledgers": "LKJZGH-PJ2CB-HSDBUQ, L3KFFN-XCP2N-SFYTRR",
    }


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        ("XXBTZUSD", ("BTC", "USD")),
        ("XETHZEUR", ("ETH", "EUR")),
        ("XDGUSD", ("DOGE", "USD")),
        ("XETHXXBT", ("ETH", "BTC")),
        ("XXBTZGBP", ("BTC", "GBP")),
        ("XLTCZUSD", ("LTC", "USD")),
        ("SOLUSD", ("SOL", "USD")),
        ("USDCUSD", ("USDC", "USD")),
        ("USDTZUSD", ("USDT", "USD")),
        ("ETHUSDT", ("ETH", "USDT")),
        ("XBTUSDC", ("BTC", "USDC")),
        ("DOTETH", ("DOT", "ETH")),
        ("ADAXBT", ("ADA", "BTC")),
        ("DAIUSD", ("DAI", "USD")),
        ("SOLEUR", ("SOL", "EUR")),
        ("ETHDAI", ("ETH", "DAI")),
        ("XBTCHF", ("BTC", "CHF")),
        ("BTC/USD", ("BTC", "USD")),
        ("xbt/eur", ("BTC", "EUR")),
        ("USDC/USD", ("USDC", "USD")),
    ],
)
def test_split_pair(pair, expected):
    assert kraken.split_pair(pair, ALIASES) == expected


@pytest.mark.parametrize("pair", ["", "USD", "FOOBAR", "/USD", "BTC/"])
def test_unsplittable_pairs(pair):
    assert kraken.split_pair(pair, ALIASES) is None


def test_t1_solusd_and_usdcusd():
    rows = loaded(
        T1_HEADER
        + "TQ6DOB-7OTBB-ZRMTMX,OKJ7WV-PCNYA-6MHXOK,SOLUSD,2023-03-01 10:00:00.0000,buy,limit,"
        "21.51000,215.10000,0.55926,10.00000000,0.00000,,LNKLQ3-Y6ZQB-E3PV5E\n"
        "TGNJTB-MJB3R-E3H2MG,OAPXTC-4EUB5-OE5OLT,USDCUSD,2023-03-01 10:05:00.2500,sell,market,"
        "0.99990,999.90000,2.59974,1000.00000000,0.00000,,LE6QKU-HXXKA-O5XYQQ\n"
    )
    assert [essentials(r) for r in rows] == [
        ("TQ6DOB-7OTBB-ZRMTMX", "SOL/USD", "SOL", "USD", "buy", "10.00000000", "21.51000",
         "215.10000", "0.55926", "USD"),
        ("TGNJTB-MJB3R-E3H2MG", "USDC/USD", "USDC", "USD", "sell", "1000.00000000", "0.99990",
         "999.90000", "2.59974", "USD"),
    ]  # fmt: skip


def test_t2_position_columns():
    rows = loaded(
        "txid,ordertxid,pair,time,type,ordertype,price,cost,fee,vol,margin,misc,ledgers,postxid,"
        "posstatus,cprice,ccost,cfee,cvol,cmargin,net,trades\n"
        '"TNGJFU-5CD67-ZV3AEO","OFKSEV-XV4M3-L5K7G3","XXBTZEUR","2022-05-10 07:41:19.2133",'
        '"buy","market",28411.20000,2841.12000,7.38691,0.10000000,1420.56000,"",'
        '"LTVA3Y-6AZZP-OIHHOT","TKH2SE-M7IF5-CFI7LT","closed",28750.00000,2875.00000,7.47500,'
        '0.10000000,1437.50000,33.88000,"TI4UHI-UYGBT-PYHG5L"\n'
        '"TI4UHI-UYGBT-PYHG5L","OI3VCX-ZZ3FC-MNOPS3","XXBTZEUR","2022-05-11 15:02:44.9001",'
        '"sell","market",28750.00000,2875.00000,7.47500,0.10000000,1437.50000,"closing",'
        '"LBYR7S-Q4QVM-O7XJ6N","TNGJFU-5CD67-ZV3AEO","","","","","","","",""\n'
    )
    assert [essentials(r) for r in rows] == [
        ("TNGJFU-5CD67-ZV3AEO", "BTC/EUR", "BTC", "EUR", "buy", "0.10000000", "28411.20000",
         "2841.12000", "7.38691", "EUR"),
        ("TI4UHI-UYGBT-PYHG5L", "BTC/EUR", "BTC", "EUR", "sell", "0.10000000", "28750.00000",
         "2875.00000", "7.47500", "EUR"),
    ]  # fmt: skip
    extra = json.loads(rows[0]["extra"])
    assert extra["postxid"] == "TKH2SE-M7IF5-CFI7LT"
    assert extra["posstatus"] == "closed" and extra["net"] == "33.88000"
    assert extra["trades"] == "TI4UHI-UYGBT-PYHG5L"
    assert json.loads(rows[1]["extra"])["misc"] == "closing"


def test_t3_current_header():
    rows = loaded(
        T3_HEADER + '"T0CO7X-2EPRF-36HHD4","ORXFN8-Z5I4Y-51WTOX","BTC/USD","forex","crypto",'
        '"2025-09-15 15:35:43.5105","buy","market",102124.70000,1991.43165,7.96573,0.01950000,'
        '497.85791,"","L9CRJ2-8ZBMG-W6146I","TKH2SE-M7IF5-CFI7LT","closed",102071.70000,'
        '1990.39815,7.96159,0.01950000,497.59954,-1.03350,"TSHBNU-W00EG-KYQBWB"\n'
        '"TOKC2S-8D7WE-ZODVXR","OHBLT3-8XTZW-EXWGYH","DOT/USD","forex","crypto",'
        '"2025-09-16 06:37:12.9192","sell","limit",4.07340,2499.96778,6.24992,613.73000000,'
        '0.00000,"","LKRPMU-TLI4A-6DL5C1,LO7GE5-4H2VC-KUII84","TKH2SE-M7IF5-CFI7LT","","","",'
        '"","","","",""\n'
    )
    assert [essentials(r) for r in rows] == [
        ("T0CO7X-2EPRF-36HHD4", "BTC/USD", "BTC", "USD", "buy", "0.01950000", "102124.70000",
         "1991.43165", "7.96573", "USD"),
        ("TOKC2S-8D7WE-ZODVXR", "DOT/USD", "DOT", "USD", "sell", "613.73000000", "4.07340",
         "2499.96778", "6.24992", "USD"),
    ]  # fmt: skip
    assert rows[1]["executed_at"] == datetime(2025, 9, 16, 6, 37, 12, 919200, tzinfo=UTC)
    extra = json.loads(rows[0]["extra"])
    assert list(extra) == [
        "aclass", "subclass", "ordertype", "margin", "ledgers", "posttxid", "posstatuscode",
        "cprice", "ccost", "cfee", "cvol", "cmargin", "net", "trades",
    ]  # fmt: skip
    assert extra["net"] == "-1.03350" and extra["posstatuscode"] == "closed"
    assert list(json.loads(rows[1]["extra"])) == [
        "aclass", "subclass", "ordertype", "margin", "ledgers", "posttxid",
    ]  # fmt: skip


def test_t3_plus_costusd():
    header = T3_HEADER.replace('"net","trades"', '"net","costusd","trades"')
    rows = loaded(
        header + '"TX6YJB-3LIUF-3UBOJT","OVZRQF-DCXUS-PYWJOY","ETH/EUR","forex","crypto",'
        '"2026-01-20 09:14:02.0042","buy","limit",2904.11000,2904.11000,7.26028,1.00000000,'
        '0.00000,"","LG7IIG-SZD3P-IOBAUA,L6O2Z4-EFCRN-CGAQBT","TKH2SE-M7IF5-CFI7LT","","","","",'
        '"","","",3398.62,""\n'
        '"TP3ZQ4-4DRDQ-J6HBXN","OVZRQF-DCXUS-PYWJOY","ETH/EUR","forex","crypto",'
        '"2026-01-20 09:14:02.0042","buy","limit",2904.11000,1452.05500,3.63014,0.50000000,'
        '0.00000,"","LQZ6MQ-XR6LY-SPGM3A,LZ4PTR-7DGGF-YT5AJ6","TKH2SE-M7IF5-CFI7LT","","","","",'
        '"","","",1699.31,""\n'
    )
    assert [essentials(r) for r in rows] == [
        ("TX6YJB-3LIUF-3UBOJT", "ETH/EUR", "ETH", "EUR", "buy", "1.00000000", "2904.11000",
         "2904.11000", "7.26028", "EUR"),
        ("TP3ZQ4-4DRDQ-J6HBXN", "ETH/EUR", "ETH", "EUR", "buy", "0.50000000", "2904.11000",
         "1452.05500", "3.63014", "EUR"),
    ]  # fmt: skip
    assert rows[0]["order_id"] == rows[1]["order_id"]  # two fills of one order, kept apart
    assert json.loads(rows[1]["extra"])["costusd"] == "1699.31"


def test_rest_trade_id_column_goes_to_exchange_trade_id():
    rows = loaded(
        T1_HEADER.replace("ledgers\n", "ledgers,trade_id\n")
        + "TQ6DOB-7OTBB-ZRMTMX,OKJ7WV-PCNYA-6MHXOK,SOLUSD,2023-03-01 10:00:00.0000,buy,limit,"
        "21.51000,215.10000,0.55926,10.00000000,0.00000,,LNKLQ3-Y6ZQB-E3PV5E,40274859\n"
    )
    assert rows[0]["exchange_trade_id"] == "40274859"
    assert "trade_id" not in json.loads(rows[0]["extra"])


# --- The sample export --------------------------------------------------------------------------


def test_sample_trades_per_pair_sums():
    expected = EXPECTED["files"]["kraken_trades.csv"]
    rows = loaded((DATA / "kraken_trades.csv").read_bytes())
    assert len(rows) == expected["data_rows"] == 176

    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        pair = sums[row["pair"]]
        pair["trades"] += 1
        pair["margin_trades"] += Decimal(json.loads(row["extra"])["margin"]) != 0
        pair[f"{row['side']}_vol"] += Decimal(row["quantity"])
        pair[f"{row['side']}_cost"] += Decimal(row["cost"])
        pair["fee"] += Decimal(row["fee"])
        assert row["fee_asset"] == row["quote"] == row["pair"].split("/")[1]
    assert set(sums) == set(expected["per_pair"])
    for pair, figures in expected["per_pair"].items():
        for name, value in figures.items():
            assert sums[pair][name] == Decimal(value), (pair, name)

    assert len({r["order_id"] for r in rows}) == expected["orders"]
    assert rows[0]["executed_at"] == datetime(2025, 9, 15, 15, 35, 43, 510500, tzinfo=UTC)
    assert rows[-1]["executed_at"] == datetime(2026, 2, 25, 2, 48, 9, 583700, tzinfo=UTC)


# --- Quirks -------------------------------------------------------------------------------------


def test_quoted_ledgers_with_commas():
    rows = loaded(
        T3_HEADER + '"TOKC2S-8D7WE-ZODVXR","OHBLT3-8XTZW-EXWGYH","DOT/USD","forex","crypto",'
        '"2025-09-16 06:37:12.9192","sell","limit",4.07340,2499.96778,6.24992,613.73000000,'
        '0.00000,"","L1,L2","TKH2SE-M7IF5-CFI7LT","","","","","","","",""\n'
        '"TSHBNU-W00EG-KYQBWB","O0DKK9-P2KSX-OHRF56","BTC/USD","forex","crypto",'
        '"2025-09-15 18:49:49.8770","sell","market",102071.70000,1990.39815,7.96159,0.01950000,'
        '497.59954,"initiated,closing","L3,L4,L5","T0CO7X-2EPRF-36HHD4","","","","","","","",""\n'
    )
    assert [json.loads(r["extra"])["ledgers"] for r in rows] == ["L1,L2", "L3,L4,L5"]
    assert json.loads(rows[1]["extra"])["misc"] == "initiated,closing"
    assert [r["quantity"] for r in rows] == ["613.73000000", "0.01950000"]


def test_utf8_bom_is_accepted():
    text = (DATA / "kraken_trades.csv").read_bytes()
    with_bom = loaded(b"\xef\xbb\xbf" + text)
    assert with_bom == loaded(text)


def test_extra_json_matches_the_shared_helper():
    chunks = {
        "plain": [["a", "", "L1,L2"], ["x"]],
        "quote": [['say "hi"', ""], ["ok", "\\"]],
        "control": [["tab\there", "é", "\u200bzero width", ""]],
        "unicode": [["€", "日本", ""], ["ÄÖÜ"]],
        "empty": [["", ""], ["", ""]],
        "full": [["1", "2", "3", "4"]],
    }
    table = pa.table({name: pa.chunked_array(parts) for name, parts in chunks.items()})
    columns = list(chunks)
    fast = extra_json(table, columns)
    assert fast.equals(extra_json(table, columns))
    assert [json.loads(value) for value in fast.to_pylist()][1] == {
        "control": "é", "unicode": "日本", "full": "2",
    }  # fmt: skip
    assert extra_json(table, ["empty"]).to_pylist() == ["{}"] * 4
    assert extra_json(table, []).to_pylist() == ["{}"] * 4


def test_extra_json_matches_the_shared_helper_on_random_tables():
    generator = random.Random(20251120)
    values = ["", "a", 'b"c', "d\\e", "f\tg", "é", "L1,L2"]
    for _ in range(200):
        length, width = generator.randint(1, 6), generator.randint(0, 4)
        table = pa.table(
            {f"c{i}": [generator.choice(values) for _ in range(length)] for i in range(width)}
        )
        columns = table.column_names
        assert extra_json(table, columns).equals(extra_json(table, columns))


def test_control_characters_are_found():
    assert not kraken.has_control_characters(b"a,b\r\nc,d\n")
    assert kraken.has_control_characters(b"a,b\nc\td\n")


def test_rows_with_a_trailing_comma_the_header_lacks():
    rows = loaded(
        T1_HEADER
        + "TQ6DOB-7OTBB-ZRMTMX,OKJ7WV-PCNYA-6MHXOK,SOLUSD,2023-03-01 10:00:00.0000,buy,limit,"
        "21.51000,215.10000,0.55926,10.00000000,0.00000,,LNKLQ3-Y6ZQB-E3PV5E,\n"
        "TGNJTB-MJB3R-E3H2MG,OAPXTC-4EUB5-OE5OLT,USDCUSD,2023-03-01 10:05:00.2500,sell,market,"
        "0.99990,999.90000,2.59974,1000.00000000,0.00000,,LE6QKU-HXXKA-O5XYQQ,\n"
    )
    assert [r["trade_id"] for r in rows] == ["TQ6DOB-7OTBB-ZRMTMX", "TGNJTB-MJB3R-E3H2MG"]
    assert "_column_14" not in json.loads(rows[0]["extra"])


# --- Errors -------------------------------------------------------------------------------------

GOOD_ROW = (
    "TQ6DOB-7OTBB-ZRMTMX,OKJ7WV-PCNYA-6MHXOK,SOLUSD,2023-03-01 10:00:00.0000,buy,limit,"
    "21.51000,215.10000,0.55926,10.00000000,0.00000,,LNKLQ3-Y6ZQB-E3PV5E\n"
)


def test_missing_columns_are_named():
    with pytest.raises(FileRejected) as caught:
        parse(T1_HEADER.replace(",vol", "") + GOOD_ROW.replace(",10.00000000", ""))
    assert "missing column(s) vol" in caught.value.reason
    with pytest.raises(FileRejected) as caught:
        parse((DATA / "kraken_ledgers.csv").read_bytes())
    assert "ordertxid, pair" in caught.value.reason


def test_unsplittable_pair_is_a_row_error():
    parsed = parse(T1_HEADER + GOOD_ROW + GOOD_ROW.replace("TQ6DOB", "TQ6DOC").replace(
        "SOLUSD", "SOLFOO"))  # fmt: skip
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (3, "pair", "SOLFOO")
    assert "base and quote" in error.reason


def test_unparsable_number_is_a_row_error():
    parsed = parse(T1_HEADER + GOOD_ROW + GOOD_ROW.replace("TQ6DOB", "TQ6DOC").replace(
        "215.10000", "2.151e2"))  # fmt: skip
    assert parsed.table is None
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (3, "cost", "2.151e2")


def test_unparsable_date_is_a_row_error():
    parsed = parse(T1_HEADER + GOOD_ROW.replace("2023-03-01 10:00:00.0000", "1677664800.1234"))
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (2, "time", "1677664800.1234")


def test_bad_side_is_a_row_error():
    parsed = parse(T1_HEADER + GOOD_ROW.replace(",buy,", ",long,"))
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (2, "type", "long")


def test_duplicate_txid_names_the_first_row():
    parsed = parse(T1_HEADER + GOOD_ROW + GOOD_ROW.replace("SOLUSD", "XXBTZUSD") + GOOD_ROW)
    errors = parsed.errors.first()
    assert [(e.row, e.column, e.reason) for e in errors] == [
        (3, "txid", "duplicate of row 2"),
        (4, "txid", "duplicate of row 2"),
    ]
