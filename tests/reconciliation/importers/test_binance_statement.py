"""Binance transaction history (statement): layouts S1-S3, stable ids, exact sums, errors."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from reconciliation.importers import binance_statement
from reconciliation.importers.base import COLUMNS, FileRejected

DATA = Path(__file__).resolve().parents[2] / "data" / "exchange"
EXPECTED = json.loads((DATA / "statement_margin_expected.json").read_text())
SAMPLE_2021 = "binance_statement_2021.csv"
SAMPLE_2025 = "binance_statement_2025(UTC+1).csv"
S2 = "User_ID,UTC_Time,Account,Operation,Coin,Change,Remark\n"


def parse(data: str | bytes, filename: str = ""):
    data = data.encode() if isinstance(data, str) else data
    return binance_statement.parse_statement(data, aliases={}, filename=filename)


def loaded(data: str | bytes, filename: str = "") -> list[dict]:
    parsed = parse(data, filename)
    assert parsed.ok, [str(e) for e in parsed.errors.first()]
    assert parsed.kind == "ledger" and parsed.table.column_names == list(COLUMNS["ledger"])
    return parsed.table.to_pylist()


def sums(rows: list[dict], *keys: str) -> dict:
    totals: dict = defaultdict(Decimal)
    for row in rows:
        totals[" | ".join(row[k] for k in keys)] += Decimal(row["amount"]) - Decimal(row["fee"])
    return {key: value for key, value in totals.items()}


def exact(figures: dict[str, str]) -> dict[str, Decimal]:
    return {key: Decimal(value) for key, value in figures.items()}


def iso(row: dict) -> str:
    return row["occurred_at"].strftime("%Y-%m-%dT%H:%M:%SZ")


# --- The samples --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [SAMPLE_2021, SAMPLE_2025])
def test_each_sample_loads_every_row_with_exact_sums_per_asset_and_wallet(name):
    expected = EXPECTED[name]
    rows = loaded((DATA / name).read_bytes(), name)
    assert len(rows) == expected["data_rows"]
    assert sums(rows, "asset") == exact(expected["net_by_asset"])
    assert sums(rows, "asset", "wallet") == exact(expected["net_by_asset_and_wallet"])
    assert min(map(iso, rows)) == expected["first_utc"]
    assert max(map(iso, rows)) == expected["last_utc"]
    assert dict(Counter(row["type"] for row in rows)) == expected["types"]
    assert len({row["entry_id"] for row in rows}) == len(rows)
    assert {row["fee"] for row in rows} == {"0"} and {row["balance"] for row in rows} == {None}


def test_identical_rows_of_a_sample_get_ids_of_their_own():
    expected = EXPECTED[SAMPLE_2025]
    rows = loaded((DATA / SAMPLE_2025).read_bytes(), SAMPLE_2025)
    repeats = [row for row in rows if not row["entry_id"].endswith("-1")]
    assert len(repeats) == expected["rows_repeating_an_earlier_row"] > 0


def test_the_2025_layout_reads_local_times_with_the_file_names_offset():
    parsed = parse((DATA / SAMPLE_2025).read_bytes(), SAMPLE_2025)
    assert parsed.notes["utc_offset"] == "+01:00"
    first = parsed.table.to_pylist()[-1]  # the file is newest first
    assert iso(first) == EXPECTED[SAMPLE_2025]["first_utc"] == "2025-01-06T08:00:05Z"
    assert json.loads(first["extra"])["Time (as written)"] == "25-01-06 09:00:05"


# --- Every layout of one history gives the same entries -----------------------------------------


def _sample_rows() -> list[list[str]]:
    lines = (DATA / SAMPLE_2021).read_text().splitlines()
    return [line.split(",") for line in lines[1:]]


def _layout(name: str) -> tuple[bytes, str]:
    """The 2021 sample's history written in another layout (file bytes, file name)."""
    rows = _sample_rows()
    if name == "S1 (no User_ID)":
        lines = ["UTC_Time,Account,Operation,Coin,Change,Remark"] + [",".join(r[1:]) for r in rows]
    elif name == "S2 quoted":
        lines = [",".join(f'"{field}"' for field in ["User_ID", "UTC_Time", "Account",
                 "Operation", "Coin", "Change", "Remark"])]  # fmt: skip
        lines += [",".join(f'"{field}"' for field in r) for r in rows]
    elif name == "S2 newest first, CRLF":
        lines = [S2.strip()] + [",".join(r) for r in reversed(rows)]
        return ("\r\n".join(lines) + "\r\n").encode(), "statement.csv"
    elif name == "S2 without Remark":
        lines = ["User_ID,UTC_Time,Account,Operation,Coin,Change"]
        lines += [",".join(r[:6]) for r in rows if not r[6]]
    elif name == "S2 rows ending before an empty Remark":
        lines = [S2.strip()] + [",".join(r if r[6] else r[:6]) for r in rows]
    elif name == "S2 from a spreadsheet (exponents)":
        lines = [S2.strip()] + [
            ",".join([*r[:5], f"{Decimal(r[5]):E}" if abs(Decimal(r[5])) < 1 else r[5], r[6]])
            for r in rows
        ]
    elif name == "S3 (BOM, User ID, Time, two-digit year, UTC+1)":
        from datetime import datetime, timedelta

        lines = ["User ID,Time,Account,Operation,Coin,Change,Remark"]
        for r in rows:
            local = datetime.fromisoformat(r[1]) + timedelta(hours=1)
            change = format(Decimal(r[5]).normalize(), "f") if Decimal(r[5]) else "0"
            lines.append(",".join([r[0], local.strftime("%y-%m-%d %H:%M:%S"), *r[2:5], change,
                                   r[6]]))  # fmt: skip
        data = "\ufeff" + "\r\n".join(lines) + "\r\n"
        return data.encode(), "Binance-Transaction-History-202104200400(UTC+1)_k3x9.csv"
    else:
        raise AssertionError(name)
    return ("\n".join(lines) + "\n").encode(), "statement.csv"


LAYOUTS = [
    "S1 (no User_ID)",
    "S2 quoted",
    "S2 newest first, CRLF",
    "S2 rows ending before an empty Remark",
    "S2 from a spreadsheet (exponents)",
    "S3 (BOM, User ID, Time, two-digit year, UTC+1)",
]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_of_the_same_history_gives_the_same_entries(layout):
    original = loaded((DATA / SAMPLE_2021).read_bytes(), SAMPLE_2021)
    data, filename = _layout(layout)
    rows = loaded(data, filename)
    assert sums(rows, "asset") == exact(EXPECTED[SAMPLE_2021]["net_by_asset"])

    def entries(found):
        return sorted(
            (r["entry_id"], r["reference"], r["asset"], r["wallet"], Decimal(r["amount"]),
             r["type"], r["subtype"], r["occurred_at"]) for r in found
        )  # fmt: skip

    assert entries(rows) == entries(original)


def test_without_a_remark_column_the_rows_without_one_keep_their_ids():
    original = {r["entry_id"] for r in loaded((DATA / SAMPLE_2021).read_bytes())}
    rows = loaded(*_layout("S2 without Remark"))
    assert rows and {r["entry_id"] for r in rows} <= original


def test_spreadsheet_exponents_are_written_out_exactly_and_noted():
    parsed = parse(
        S2 + "1,2020-10-30 14:21:20,Spot,Fee,ETH,-3.605E-05,\n"
        "1,2020-11-01 09:36:13,Spot,ETH 2.0 Staking Rewards,BETH,4.615e-06,\n"
    )
    assert [r["amount"] for r in parsed.table.to_pylist()] == ["-0.00003605", "0.000004615"]
    assert parsed.notes["exponent_values_written_out"] == 2


# --- Ids, types, wallets ------------------------------------------------------------------------


def test_identical_rows_are_kept_apart_and_numbered_in_file_order():
    row = "1,2024-05-16 12:57:55,Spot,Transaction Buy,HIGH,10.74000000,\n"
    rows = loaded(S2 + row * 3 + row.replace("10.74", "10.75"))
    ids = [r["entry_id"] for r in rows]
    assert len(set(ids)) == 4
    stem = ids[0].rsplit("-", 1)[0]
    assert ids[:3] == [f"{stem}-1", f"{stem}-2", f"{stem}-3"]
    assert ids[3].startswith("2024-05-16T12:57:55Z-HIGH-") and ids[3].endswith("-1")
    assert {r["reference"] for r in rows} == {"2024-05-16T12:57:55Z"}


@pytest.mark.parametrize(
    ("operation", "kind"),
    [
        ("Deposit", "deposit"), ("Fiat Deposit", "deposit"), ("Withdraw", "withdrawal"),
        ("Transaction Fee", "fee"), ("Fee", "fee"), ("Transaction Spend", "trade"),
        ("Transaction Related", "trade"), ("Binance Convert", "convert"),
        ("Small assets exchange BNB", "convert"), ("Simple Earn Locked Rewards", "earn"),
        ("ETH 2.0 Staking Rewards", "staking"), ("Staking Purchase", "staking"),
        ("Transfer Between Main and Funding Wallet", "transfer"), ("Funding Fee", "futures"),
        ("HODLer Airdrops Distribution", "reward"), ("Commission Rebate", "commission"),
        ("Something Binance added later", "other"),
    ],
)  # fmt: skip
def test_operations_are_grouped_into_ledger_types(operation, kind):
    [row] = loaded(S2 + f"1,2024-01-01 00:00:00,Spot,{operation},BNB,-0.1,\n")
    assert (row["type"], row["subtype"]) == (kind, operation)


def test_a_long_operation_is_cut_to_fit_and_kept_in_full_in_extra():
    operation = "Transfer Between Spot Account and UM Futures Account"
    [row] = loaded(S2 + f"1,2024-01-01 00:00:00,USD-MFutures,{operation},USDT,100,\n")
    assert len(row["subtype"]) == 50 and operation.startswith(row["subtype"][:-1])
    assert json.loads(row["extra"])["Operation (in full)"] == operation
    assert (row["type"], row["wallet"]) == ("transfer", "USD-MFutures")


def test_user_id_and_remark_are_kept_in_extra():
    [row] = loaded(S2 + "38271946,2024-01-01 00:00:00,Spot,Withdraw,KNC,-0.16,"
                   "Withdraw fee is included\n")  # fmt: skip
    assert json.loads(row["extra"]) == {"User_ID": "38271946", "Remark": "Withdraw fee is included"}


def test_utc_time_is_never_shifted_by_an_offset_in_the_file_name():
    [row] = loaded(S2 + "1,2024-01-01 10:00:00,Spot,Deposit,BTC,1,\n", "x(UTC+1).csv")
    assert iso(row) == "2024-01-01T10:00:00Z"


def test_local_time_without_an_offset_in_the_name_is_taken_as_utc_and_noted():
    parsed = parse("User ID,Time,Account,Operation,Coin,Change,Remark\n"
                   "1,2025-03-01 10:00:00,Spot,Deposit,BTC,1,\n", "statement.csv")  # fmt: skip
    assert iso(parsed.table.to_pylist()[0]) == "2025-03-01T10:00:00Z"
    assert parsed.notes["time_zone_assumed"] == "UTC"


def test_no_data_rows_are_skipped_and_an_export_of_nothing_is_refused():
    header = "User ID,Time,Account,Operation,Coin,Change,Remark\n"
    with pytest.raises(FileRejected, match="No data matches the criteria"):
        parse(header + "No data matches the criteria.\n")
    parsed = parse(
        header + "No data matches the criteria.\n1,25-03-01 10:00:00,Spot,Deposit,BTC,1,\n"
    )
    assert parsed.ok and parsed.notes["no_data_rows_skipped"] == 1
    assert parsed.table["row_number"].to_pylist() == [3]


# --- Errors -------------------------------------------------------------------------------------


def test_a_file_of_another_kind_is_refused_naming_the_missing_columns():
    with pytest.raises(FileRejected, match=r"missing column\(s\) UTC_Time \(or Time\), Account"):
        parse(
            '"Date(UTC)","Pair","Side","Price","Executed","Amount","Fee"\n'
            '"2026-02-25 00:26:00","ETHBTC","BUY","0.04","0.02ETH","0.0008BTC","0.00007BNB"\n'
        )


@pytest.mark.parametrize(
    ("row", "column", "value", "reason"),
    [
        ("1,2024-01-01 00:00:00,Spot,Deposit,BTC,1.5x,", "Change", "1.5x", "not a plain decimal"),
        ("1,2024-01-01 00:00:00,Spot,Deposit,BTC,,", "Change", "", "a number is required"),
        ("1,2024-02-30 00:00:00,Spot,Deposit,BTC,1,", "UTC_Time", "2024-02-30 00:00:00",
         "not a valid date"),
        ("1,,Spot,Withdraw,BTC,0.05,", "UTC_Time", "", "a time is required"),
        ("1,2024-01-01 00:00:00,Spot,Deposit,,1,", "Coin", "", "a value is required"),
        ("1,2024-01-01 00:00:00,Spot,,BTC,1,", "Operation", "", "a value is required"),
        ("1,2024-01-01 00:00:00,Spot,Deposit,BTC,1.0000000000000000001,", "Change",
         "1.0000000000000000001", "too many digits"),
        ("1,2024-01-01 00:00:00," + "S" * 101 + ",Deposit,BTC,1,", "Account", "S" * 60,
         "longer than 100 characters"),  # the value shown cut to 60 characters
    ],
)  # fmt: skip
def test_bad_values_are_row_errors_with_the_value_as_written(row, column, value, reason):
    parsed = parse(S2 + "1,2024-01-01 00:00:00,Spot,Deposit,BTC,1,\n\n" + row + "\n")
    assert not parsed.ok and parsed.table is None
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (4, column, value)
    assert reason in error.reason


def test_rows_of_another_binance_user_are_refused():
    parsed = parse(S2 + "11,2024-01-01 00:00:00,Spot,Deposit,BTC,1,\n"
                   "22,2024-01-02 00:00:00,Spot,Deposit,BTC,1,\n")  # fmt: skip
    [error] = parsed.errors.first()
    assert (error.row, error.column, error.value) == (3, "User_ID", "22")
    assert "another Binance user than row 2's (11)" in error.reason


def test_a_row_with_fields_missing_is_named_by_line():
    with pytest.raises(FileRejected, match="line 3 has 5 fields, the header has 7"):
        parse(S2 + "1,2024-01-01 00:00:00,Spot,Deposit,BTC,1,\n1,2024-01-01 00:00:00,Spot,a,b\n")


def test_a_lone_carriage_return_ends_a_line_and_a_short_line_is_named():
    # A lone CR is a line end (classic Mac files), so the row breaks into two short lines.
    with pytest.raises(FileRejected, match="line 2 has 4 fields, the header has 7"):
        parse(S2 + "1,2024-01-01 00:00:00,Spot,Dep\rosit,BTC,1\n1,2024-01-01 00:00:00,Spot\n")


def test_control_characters_in_account_or_operation_are_row_errors():
    good = "1,2024-01-01 00:00:00,Spot,Deposit,BTC,1,\n" * 200  # past the first 4 KiB
    parsed = parse(S2 + good + "1,2024-01-02 00:00:00,Sp\x00ot,Deposit,BTC,1,\n"
                   "1,2024-01-02 00:00:00,Spot,Dep\tosit,BTC,1,\n")  # fmt: skip
    found = [(e.row, e.column) for e in parsed.errors.first()]
    assert found == [(202, "Account"), (203, "Operation")]
