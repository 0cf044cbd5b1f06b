"""Kraken ledgers.csv: every header variant, the sample export's balances, the quirks, errors."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from reconciliation.importers import kraken
from reconciliation.importers.assets import DEFAULT_ALIASES, aliases_for
from reconciliation.importers.base import COLUMNS, FileRejected

DATA = Path(__file__).resolve().parents[2] / "data" / "exchange"
EXPECTED = json.loads((DATA / "expected.json").read_text())
ALIASES = aliases_for("kraken", DEFAULT_ALIASES)


def parse(text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return kraken.parse_ledgers(data, aliases=ALIASES)


def loaded(text: str | bytes) -> list[dict]:
    parsed = parse(text)
    assert parsed.ok, [str(e) for e in parsed.errors.first()]
    assert parsed.kind == "ledger"
    assert parsed.table.column_names == list(COLUMNS["ledger"])
    return parsed.table.to_pylist()


def essentials(row: dict) -> tuple:
    return (row["entry_id"], row["asset"], row["wallet"], row["amount"], row["fee"], row["balance"])


# --- Header variants ----------------------------------------------------------------------------


def test_l1_oldest_header_without_subtype():
    rows = loaded(
        '"txid","refid","time","type","aclass","asset","amount","fee","balance"\n'
        '"LQ5PEB-ZRHTB-XW7KCK","TTJ4AH-5NRRD-2QTFWS","2020-06-02 14:11:09","trade","currency",'
        '"XXBT",0.0500000000,0.0000000000,1.2500000000\n'
        '"LOGN4X-W7AKJ-4OK4ZU","TTJ4AH-5NRRD-2QTFWS","2020-06-02 14:11:09","trade","currency",'
        '"ZUSD",-475.2500,0.7604,10024.1896\n'
    )
    assert [essentials(r) for r in rows] == [
        ("LQ5PEB-ZRHTB-XW7KCK", "BTC", "", "0.0500000000", "0.0000000000", "1.2500000000"),
        ("LOGN4X-W7AKJ-4OK4ZU", "USD", "", "-475.2500", "0.7604", "10024.1896"),
    ]
    assert rows[0]["subtype"] == ""
    assert rows[0]["reference"] == "TTJ4AH-5NRRD-2QTFWS"
    assert rows[0]["type"] == "trade"
    assert rows[0]["occurred_at"] == datetime(2020, 6, 2, 14, 11, 9, tzinfo=UTC)
    assert json.loads(rows[0]["extra"]) == {"aclass": "currency"}
    assert rows[0]["row_number"] == 2 and rows[1]["row_number"] == 3


def test_l2_subtype_unquoted():
    rows = loaded(
        "txid,refid,time,type,subtype,aclass,asset,amount,fee,balance\n"
        "LHQ3ZN-4GJ2C-ZQXJ6F,QCCJ4NE-KYPLUM-PZ3ZYA,2021-07-07 07:00:00,deposit,,currency,ZEUR,"
        "500.0000,0.0000,521.2828\n"
        "L7GN6M-YKMTN-YJH3MP,TQ6DOB-7OTBB-ZRMTMX,2021-07-08 09:12:40,trade,,currency,XETH,"
        "0.2101000000,0.0000000000,0.2101000000\n"
        "LXX6WT-5CM6H-7KI7B2,TQ6DOB-7OTBB-ZRMTMX,2021-07-08 09:12:40,trade,,currency,ZEUR,"
        "-399.9987,0.6400,120.6441\n"
    )
    assert [essentials(r) for r in rows] == [
        ("LHQ3ZN-4GJ2C-ZQXJ6F", "EUR", "", "500.0000", "0.0000", "521.2828"),
        ("L7GN6M-YKMTN-YJH3MP", "ETH", "", "0.2101000000", "0.0000000000", "0.2101000000"),
        ("LXX6WT-5CM6H-7KI7B2", "EUR", "", "-399.9987", "0.6400", "120.6441"),
    ]
    assert [r["type"] for r in rows] == ["deposit", "trade", "trade"]


L2B = (
    '"txid","refid","time","type","subtype","aclass","asset","amount","fee","balance",""\n'
    '"L4UESK-KG3EQ-UFO4T5","TJKLXX-PSLSH-Y5VDCN","2021-02-14 10:06:52","trade","","currency",'
    '"XXDG",3012.00000000,0.00000000,3012.00000000,\n'
    '"LDCYVK-EXV4G-JLEDLO","TJKLXX-PSLSH-Y5VDCN","2021-02-14 10:06:52","trade","","currency",'
    '"ZUSD",-180.7200,0.2892,819.0008,\n'
)


def test_l2b_trailing_empty_named_column():
    rows = loaded(L2B)
    assert [essentials(r) for r in rows] == [
        ("L4UESK-KG3EQ-UFO4T5", "DOGE", "", "3012.00000000", "0.00000000", "3012.00000000"),
        ("LDCYVK-EXV4G-JLEDLO", "USD", "", "-180.7200", "0.2892", "819.0008"),
    ]
    assert json.loads(rows[0]["extra"]) == {"aclass": "currency"}


def test_l2b_header_with_trailing_column_the_rows_lack():
    text = L2B.replace(",\n", "\n").replace('"balance"\n', '"balance",""\n')
    assert text.splitlines()[0].endswith(',""') and not text.splitlines()[1].endswith(",")
    assert [essentials(r) for r in loaded(text)] == [essentials(r) for r in loaded(L2B)]


def test_l3_wallet():
    rows = loaded(
        '"txid","refid","time","type","subtype","aclass","asset","wallet","amount","fee",'
        '"balance"\n'
        '"LMJ2EW-4GYUK-HFJ7EX","ELFI6E5-PNXZG-NSGNER","2024-04-02 08:15:31","earn",'
        '"allocation","currency","DOT","spot / main",-120.0000000000,0,0.5100000000\n'
        '"LQ2I7R-VWRZC-3KBDJO","ELFI6E5-PNXZG-NSGNER","2024-04-02 08:15:31","earn",'
        '"allocation","currency","DOT","earn / bonded",120.0000000000,0,120.0000000000\n'
    )
    assert [essentials(r) for r in rows] == [
        ("LMJ2EW-4GYUK-HFJ7EX", "DOT", "spot / main", "-120.0000000000", "0", "0.5100000000"),
        ("LQ2I7R-VWRZC-3KBDJO", "DOT", "earn / bonded", "120.0000000000", "0", "120.0000000000"),
    ]
    assert [r["subtype"] for r in rows] == ["allocation", "allocation"]


def test_l4_amountusd_goes_to_extra():
    rows = loaded(
        '"txid","refid","time","type","subtype","aclass","asset","amount","fee","balance",'
        '"amountusd"\n'
        '"LGA4ZF-QN6ZK-5VZ3JJ","TSS3GQ-CVGJF-3ANBXP","2024-07-08 16:40:12","trade","tradespot",'
        '"currency","SOL",12.5000000000,0,12.5000000000,1915.63\n'
        '"LVX3UR-DTXQX-7YB5BT","TSS3GQ-CVGJF-3ANBXP","2024-07-08 16:40:12","trade","tradespot",'
        '"currency","ZUSD",-1915.6250,4.9806,3079.3944,-1915.63\n'
    )
    assert [essentials(r) for r in rows] == [
        ("LGA4ZF-QN6ZK-5VZ3JJ", "SOL", "", "12.5000000000", "0", "12.5000000000"),
        ("LVX3UR-DTXQX-7YB5BT", "USD", "", "-1915.6250", "4.9806", "3079.3944"),
    ]
    assert json.loads(rows[1]["extra"]) == {"aclass": "currency", "amountusd": "-1915.63"}


def test_l5_wallet_and_amountusd():
    rows = loaded(
        '"txid","refid","time","type","subtype","aclass","asset","wallet","amount","fee",'
        '"balance","amountusd"\n'
        '"LKBH5T-ZSCGT-Y2R2LX","FTQqzsk-V6Za8qrWnhzTx67rYHz8Tg","2024-07-11 09:02:44","deposit",'
        '"","currency","USDC","spot / main",2500.00000000,0,2500.00000000,2499.75\n'
        '"L2M4P6-GV3XJ-TYH5FQ","ELCT3XZ-5H6JB-4BRLWR","2024-07-11 09:05:10","earn",'
        '"autoallocation","currency","USDC","spot / main",-2500.00000000,0,0.00000000,-2499.75\n'
        '"LC6BEA-2MKIF-SP3XVM","ELCT3XZ-5H6JB-4BRLWR","2024-07-11 09:05:10","earn",'
        '"autoallocation","currency","USDC","earn / flexible",2500.00000000,0,2500.00000000,'
        "2499.75\n"
    )
    assert [essentials(r) for r in rows] == [
        ("LKBH5T-ZSCGT-Y2R2LX", "USDC", "spot / main", "2500.00000000", "0", "2500.00000000"),
        ("L2M4P6-GV3XJ-TYH5FQ", "USDC", "spot / main", "-2500.00000000", "0", "0.00000000"),
        ("LC6BEA-2MKIF-SP3XVM", "USDC", "earn / flexible", "2500.00000000", "0", "2500.00000000"),
    ]
    assert rows[0]["reference"] == "FTQqzsk-V6Za8qrWnhzTx67rYHz8Tg"  # mixed case kept


def test_l6_current_header_with_subclass():
    rows = loaded(
        '"txid","refid","time","type","subtype","aclass","subclass","asset","wallet","amount",'
        '"fee","balance"\n'
        '"L9KL9Z-OXEDM-QW1VWO","TWK0I5-AJ6PH-X1QHFF","2025-11-20 16:17:53","trade","tradespot",'
        '"currency","crypto","DOGE","spot / main",-62441.00000000,0,45592.05735774\n'
        '"LT6MMO-C2LO8-JQSJ40","TWK0I5-AJ6PH-X1QHFF","2025-11-20 16:17:53","trade","tradespot",'
        '"currency","fiat","USD","spot / main",11999.8177,47.9993,387888.5178\n'
    )
    assert [essentials(r) for r in rows] == [
        ("L9KL9Z-OXEDM-QW1VWO", "DOGE", "spot / main", "-62441.00000000", "0", "45592.05735774"),
        ("LT6MMO-C2LO8-JQSJ40", "USD", "spot / main", "11999.8177", "47.9993", "387888.5178"),
    ]
    assert json.loads(rows[1]["extra"]) == {"aclass": "currency", "subclass": "fiat"}
    assert rows[0]["subtype"] == "tradespot"


def test_l7_usd_fields_go_to_extra():
    rows = loaded(
        '"txid","refid","time","type","subtype","aclass","subclass","asset","wallet","amount",'
        '"fee","balance","amountusd","feeusd","balanceusd","feecurrency"\n'
        '"LZ3NQD-JN7MM-7IEXXG","TAQN3G-J2JTX-JUOJCM","2026-01-08 12:00:03","trade","tradespot",'
        '"currency","crypto","ALGO","spot / main",1500.00000000,0,1500.00000000,271.35,0,271.35,'
        '"EUR"\n'
        '"LB4FZU-YUFXA-BR3EE3","TAQN3G-J2JTX-JUOJCM","2026-01-08 12:00:03","trade","tradespot",'
        '"currency","fiat","EUR","spot / main",-231.7500,0.6025,4768.2500,-271.35,0.71,5583.10,'
        '"EUR"\n'
    )
    assert [essentials(r) for r in rows] == [
        ("LZ3NQD-JN7MM-7IEXXG", "ALGO", "spot / main", "1500.00000000", "0", "1500.00000000"),
        ("LB4FZU-YUFXA-BR3EE3", "EUR", "spot / main", "-231.7500", "0.6025", "4768.2500"),
    ]
    assert json.loads(rows[1]["extra"]) == {
        "aclass": "currency",
        "subclass": "fiat",
        "amountusd": "-271.35",
        "feeusd": "0.71",
        "balanceusd": "5583.10",
        "feecurrency": "EUR",
    }


def test_column_names_are_matched_by_name_not_position():
    rows = loaded(
        "balance,fee,amount,asset,aclass,type,time,refid,txid\n"
        "1.2500000000,0.0000000000,0.0500000000,XXBT,currency,trade,2020-06-02 14:11:09,"
        "TTJ4AH-5NRRD-2QTFWS,LQ5PEB-ZRHTB-XW7KCK\n"
        "10024.1896,0.7604,-475.2500,ZUSD,currency,trade,2020-06-02 14:11:09,"
        "TTJ4AH-5NRRD-2QTFWS,LOGN4X-W7AKJ-4OK4ZU\n"
    )
    assert [essentials(r) for r in rows] == [
        ("LQ5PEB-ZRHTB-XW7KCK", "BTC", "", "0.0500000000", "0.0000000000", "1.2500000000"),
        ("LOGN4X-W7AKJ-4OK4ZU", "USD", "", "-475.2500", "0.7604", "10024.1896"),
    ]


# --- The sample export --------------------------------------------------------------------------


def test_sample_ledger_balances_close_exactly():
    expected = EXPECTED["files"]["kraken_ledgers.csv"]
    rows = loaded((DATA / "kraken_ledgers.csv").read_bytes())
    assert len(rows) == expected["data_rows"] == 288
    assert Counter(r["type"] for r in rows) == expected["row_types"]

    by_wallet: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_wallet[f"{row['asset']} | {row['wallet']}"].append(row)
    assert set(by_wallet) == set(expected["balances"])
    for key, figures in expected["balances"].items():
        entries = by_wallet[key]
        opening, closing = Decimal(figures["opening"]), Decimal(figures["closing"])
        assert Decimal(entries[-1]["balance"]) == closing, key
        first = entries[0]
        inferred = Decimal(first["balance"]) - Decimal(first["amount"]) + Decimal(first["fee"])
        assert inferred == opening, key
        moved = sum(Decimal(r["amount"]) - Decimal(r["fee"]) for r in entries)
        assert opening + moved == closing, key
        running = opening
        for entry in entries:  # every row's balance is the running one, per (asset, wallet)
            running += Decimal(entry["amount"]) - Decimal(entry["fee"])
            assert Decimal(entry["balance"]) == running, entry["entry_id"]

    assert rows[0]["occurred_at"] == datetime(2025, 11, 20, 11, 56, 7, tzinfo=UTC)
    assert rows[-1]["occurred_at"] == datetime(2026, 2, 27, 10, 16, 5, tzinfo=UTC)
    assert [r["row_number"] for r in rows] == list(range(2, 290))


# --- Kraken quirks ------------------------------------------------------------------------------

L3_HEADER = (
    '"txid","refid","time","type","subtype","aclass","asset","wallet","amount","fee","balance"\n'
)


def test_kfee_fee_credit_row_is_kept():
    rows = loaded(
        L3_HEADER
        + '"LQ4D4J-XNZX6-5WHB3M","TC3OBV-5Y7SN-L5JTRH","2024-05-03 10:21:37","trade","tradespot",'
        '"currency","XXBT","spot / main",0.0100000000,0,0.5100000000\n'
        '"L2HJRD-IDJ4C-AJ3BFN","TC3OBV-5Y7SN-L5JTRH","2024-05-03 10:21:37","trade","tradespot",'
        '"currency","ZUSD","spot / main",-625.4300,0,9374.5700\n'
        '"LOW2TT-7YL7B-YQWM6S","TC3OBV-5Y7SN-L5JTRH","2024-05-03 10:21:37","trade","tradespot",'
        '"currency","KFEE","spot / main",0.00,162.61,837.39\n'
    )
    assert [r["asset"] for r in rows] == ["BTC", "USD", "KFEE"]
    kfee = rows[2]
    assert (kfee["amount"], kfee["fee"], kfee["balance"]) == ("0.00", "162.61", "837.39")
    assert {r["reference"] for r in rows} == {"TC3OBV-5Y7SN-L5JTRH"}


def test_reversed_withdrawal_is_two_rows_not_a_duplicate():
    rows = loaded(
        L3_HEADER + '"LJH5XB-2ZCUS-MWKH2R","FTw8FHS-UeAaHVVz2mKTBzFaCpRDkm","2024-06-12 14:02:11",'
        '"withdrawal","","currency","ZEUR","spot / main",-2500.0000,0.0900,1499.9100\n'
        '"LX3G4D-KO6TB-ZW6XTG","FTw8FHS-UeAaHVVz2mKTBzFaCpRDkm","2024-06-12 15:40:57",'
        '"withdrawal","","currency","ZEUR","spot / main",2500.0000,-0.0900,4000.0000\n'
    )
    assert [(r["entry_id"], r["amount"], r["fee"]) for r in rows] == [
        ("LJH5XB-2ZCUS-MWKH2R", "-2500.0000", "0.0900"),
        ("LX3G4D-KO6TB-ZW6XTG", "2500.0000", "-0.0900"),
    ]
    assert rows[0]["reference"] == rows[1]["reference"]
    assert sum(Decimal(r["amount"]) - Decimal(r["fee"]) for r in rows) == 0


def test_staking_transfer_keeps_dot_and_dot_s_apart():
    rows = loaded(
        "txid,refid,time,type,subtype,aclass,asset,amount,fee,balance\n"
        "LTKC4S-QH4K2-5TZ2W3,RUSB5QG-KZXLQ5-3ZHK7W,2021-09-01 18:42:11,transfer,spottostaking,"
        "currency,DOT,-50.0000000000,0.0000000000,0.2500000000\n"
        "LDSS2K-H3QO3-WYHGPC,REB5JOT-CTE6DT-3R5X6P,2021-09-01 18:49:02,transfer,stakingfromspot,"
        "currency,DOT.S,50.0000000000,0.0000000000,50.0000000000\n"
        "LM7H4Y-AJ3UQ-KYGVR4,STC3ZQL-ZBUSH-DYXJ4Q,2021-09-05 01:12:53,staking,,currency,DOT.S,"
        "0.0952120000,0.0142818000,50.0809302000\n"
    )
    assert [(r["asset"], r["subtype"], r["amount"]) for r in rows] == [
        ("DOT", "spottostaking", "-50.0000000000"),
        ("DOT.S", "stakingfromspot", "50.0000000000"),
        ("DOT.S", "", "0.0952120000"),
    ]
    staked = [r for r in rows if r["asset"] == "DOT.S"]
    assert sum(Decimal(r["amount"]) - Decimal(r["fee"]) for r in staked) == Decimal(
        staked[-1]["balance"]
    )


def test_suffixes_map_with_the_base_code():
    rows = loaded(
        L3_HEADER
        + '"LA1-AAAAA-AAAAAA","ST1","2025-01-01 00:00:00","staking","","currency","XBT.M",'
        '"earn / flexible",0.0000100000,0,0.0100100000\n'
        '"LA2-AAAAA-AAAAAA","ST2","2025-01-01 00:00:00","staking","","currency","ETH2.S",'
        '"earn / bonded",0.0001000000,0,1.0001000000\n'
        '"LA3-AAAAA-AAAAAA","ST3","2025-01-01 00:00:00","staking","","currency","ADA.F",'
        '"earn / liquid",1.00000000,0,2.00000000\n'
        '"LA4-AAAAA-AAAAAA","ST4","2025-01-01 00:00:00","staking","","currency","USDC.B",'
        '"earn / locked",1.00000000,0,2.00000000\n'
    )
    assert [r["asset"] for r in rows] == ["BTC.M", "ETH2.S", "ADA.F", "USDC.B"]


def test_margin_rollover_and_settled_rows_keep_their_type():
    rows = loaded(
        L3_HEADER + '"LB5E4D-XTN6K-4DCNGM","TFEXMP-4IXNP-PUX5DO","2024-08-02 09:00:12","margin","",'
        '"currency","ZUSD","spot / main",0.0000,7.9991,19992.0009\n'
        '"LQ3C4T-SU6YH-2IJ5WD","TFEXMP-4IXNP-PUX5DO","2024-08-02 13:00:15","rollover","",'
        '"currency","ZUSD","spot / main",0.0000,0.3999,19991.6010\n'
        '"LX5DWM-H2V3O-PFW4OQ","TFEXMP-4IXNP-PUX5DO","2024-08-03 10:17:45","settled","",'
        '"currency","XXBT","spot / main",-0.0195000000,0,0.0000000000\n'
        '"LJ4L7F-FHK5W-SZNWUD","TV2HDX-GK3MF-4YJ6YC","2024-08-03 10:17:45","margin","",'
        '"currency","ZUSD","spot / main",26.0253,7.8950,20009.7313\n'
    )
    assert [(r["type"], r["amount"], r["fee"]) for r in rows] == [
        ("margin", "0.0000", "7.9991"),
        ("rollover", "0.0000", "0.3999"),
        ("settled", "-0.0195000000", "0"),
        ("margin", "26.0253", "7.8950"),
    ]


def test_blank_txid_pending_rows_are_skipped_and_counted():
    text = (
        '"txid","refid","time","type","subtype","aclass","asset","amount","fee","balance"\n'
        '"","QCCJ4NE-KYPLUM-PZ3ZYA","2021-07-07 06:59:26","deposit","","currency","ZEUR",'
        '500.0000,0.0000,""\n'
        '"","RUSB5QG-KZXLQ5-3ZHK7W","2021-07-07 06:59:40","transfer","spottostaking","currency",'
        '"DOT",-50.0000000000,0.0000000000,""\n'
        '"LHQ3ZN-4GJ2C-ZQXJ6F","QCCJ4NE-KYPLUM-PZ3ZYA","2021-07-07 07:00:00","deposit","",'
        '"currency","ZEUR",500.0000,0.0000,521.2828\n'
        '"LTKC4S-QH4K2-5TZ2W3","RUSB5QG-KZXLQ5-3ZHK7W","2021-07-07 07:02:31","transfer",'
        '"spottostaking","currency","DOT",-50.0000000000,0.0000000000,0.2500000000\n'
    )
    parsed = parse(text)
    assert parsed.ok
    assert parsed.notes["skipped_pending_rows"] == 2
    rows = parsed.table.to_pylist()
    assert [(r["entry_id"], r["row_number"]) for r in rows] == [
        ("LHQ3ZN-4GJ2C-ZQXJ6F", 4),
        ("LTKC4S-QH4K2-5TZ2W3", 5),
    ]
    # counted once: the EUR deposit moves the balance by 500, not 1000
    assert sum(Decimal(r["amount"]) for r in rows if r["asset"] == "EUR") == Decimal("500")


def test_no_pending_rows_is_counted_as_zero():
    assert parse(L2B).notes == {"skipped_pending_rows": 0}


def test_trades_missing_from_either_file_load_unchanged():
    ledger = loaded(
        L3_HEADER + '"LNA5TG-VS3DS-HOAPR2","TLEDGR-ONLY01-AAAAAA","2025-12-01 10:00:00","trade",'
        '"tradespot","currency","SOL","spot / main",5.0000000000,0,5.0000000000\n'
        '"LQG5A2-XW36K-YHM3RX","TLEDGR-ONLY01-AAAAAA","2025-12-01 10:00:00","trade",'
        '"tradespot","currency","USD","spot / main",-1000.0000,4.0000,8996.0000\n'
        '"L3NDHJ-ULNTA-BOLDUE","TBOTH0-IN0BOT-HFILES","2025-12-01 11:00:00","trade",'
        '"tradespot","currency","SOL","spot / main",1.0000000000,0,6.0000000000\n'
        '"LX2ER5-LMUJQ-GOO2NC","TBOTH0-IN0BOT-HFILES","2025-12-01 11:00:00","trade",'
        '"tradespot","currency","USD","spot / main",-200.0000,0.8000,8795.2000\n'
    )
    trades = kraken.parse_trades(
        (
            b'"txid","ordertxid","pair","time","type","ordertype","price","cost","fee","vol",'
            b'"margin","misc","ledgers"\n'
            b'"TBOTH0-IN0BOT-HFILES","OQCLML-BW3P3-BUCMWZ","SOL/USD","2025-12-01 11:00:00.1234",'
            b'"buy","limit",200.00000,200.00000,0.80000,1.00000000,0.00000,"",'
            b'"L3NDHJ-ULNTA-BOLDUE,LX2ER5-LMUJQ-GOO2NC"\n'
            b'"TTRADE-ONLY01-BBBBBB","OB5VMB-B4U2U-DK2WRW","SOL/USD","2025-11-02 09:30:00.5000",'
            b'"sell","market",190.00000,380.00000,1.52000,2.00000000,0.00000,"",'
            b'"LPRE1A-WINDOW-AAAAAA,LPRE1B-WINDOW-AAAAAA"\n'
        ),
        aliases=ALIASES,
    )
    assert trades.ok
    assert len(ledger) == 4 and trades.table.num_rows == 2
    refids = {r["reference"] for r in ledger if r["type"] == "trade"}
    trade_ids = set(trades.table["trade_id"].to_pylist())
    assert refids - trade_ids == {"TLEDGR-ONLY01-AAAAAA"}
    assert trade_ids - refids == {"TTRADE-ONLY01-BBBBBB"}


def test_sample_files_trade_coverage():
    ledger = loaded((DATA / "kraken_ledgers.csv").read_bytes())
    trades = kraken.parse_trades((DATA / "kraken_trades.csv").read_bytes(), aliases=ALIASES)
    refids = {r["reference"] for r in ledger if r["type"] in ("trade", "margin")}
    trade_ids = {r["trade_id"]: r for r in trades.table.to_pylist()}
    expected = EXPECTED["files"]["kraken_trades.csv"]["trades_with_ledger_rows_in_file"]
    assert len(refids & set(trade_ids)) == expected == 103
    assert refids - set(trade_ids) == set()
    outside = set(trade_ids) - refids  # fills before the ledger's window
    assert len(outside) == 176 - 103
    window = datetime(2025, 11, 20, tzinfo=UTC)
    assert all(trade_ids[t]["executed_at"] < window for t in outside)


def test_utf8_bom_is_accepted():
    text = L2B.encode()
    rows = loaded(b"\xef\xbb\xbf" + text)
    assert [essentials(r) for r in rows] == [essentials(r) for r in loaded(text)]


def test_crlf_line_ends():
    rows = loaded(L2B.replace("\n", "\r\n"))
    assert [r["balance"] for r in rows] == ["3012.00000000", "819.0008"]


# --- Errors -------------------------------------------------------------------------------------


def test_missing_column_is_named():
    with pytest.raises(FileRejected) as caught:
        parse(
            "txid,refid,time,type,aclass,asset,amount,balance\n"
            "LQ5PEB-ZRHTB-XW7KCK,TTJ4AH-5NRRD-2QTFWS,2020-06-02 14:11:09,trade,currency,XXBT,"
            "0.05,1.25\n"
        )
    assert "missing column(s) fee" in caught.value.reason


def test_a_trades_file_is_not_a_ledger():
    with pytest.raises(FileRejected) as caught:
        parse((DATA / "kraken_trades.csv").read_bytes())
    assert "refid" in caught.value.reason and "asset" in caught.value.reason


def test_unparsable_number_is_a_row_error():
    parsed = parse(L2B.replace("-180.7200", "-18O.72"))
    assert not parsed.ok and parsed.table is None
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (3, "amount", "-18O.72")
    assert "not a plain decimal" in error.reason


def test_unparsable_date_is_a_row_error():
    parsed = parse(L2B.replace("2021-02-14 10:06:52", "14/02/2021 10:06", 1))
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (2, "time", "14/02/2021 10:06")
    assert "YYYY-MM-DD HH:MM:SS" in error.reason


def test_impossible_date_is_a_row_error():
    parsed = parse(L2B.replace("2021-02-14 10:06:52", "2021-02-30 10:06:52", 1))
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (2, "time", "2021-02-30 10:06:52")


def test_duplicate_txid_names_the_first_row():
    parsed = parse(L2B + L2B.splitlines(keepends=True)[1])
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (4, "txid", "L4UESK-KG3EQ-UFO4T5")
    assert error.reason == "duplicate of row 2"


def test_not_text_is_rejected():
    with pytest.raises(FileRejected, match="XLSX"):
        parse(b"PK\x03\x04rest-of-a-zip")
