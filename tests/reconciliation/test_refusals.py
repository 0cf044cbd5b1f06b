"""Careless and hostile inputs through the doors: a row-numbered refusal or a clean load, never a
traceback (issue 12, item 4). Each case goes through POST /api/datasets/ and `import_dataset`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from config.storable import SURROGATE
from reconciliation.importers import chunks
from reconciliation.models import (
    Account,
    BalanceRecord,
    Dataset,
    LedgerEntryRecord,
    Source,
    TradeRecord,
)
from tests.reconciliation.conftest import EXCHANGE
from tests.reconciliation.doors import api_as, post_file

pytestmark = pytest.mark.django_db

TRADES_HEADER = "trade_id,account,pair,side,quantity,price,fee,fee_asset,executed_at\n"
BALANCES_HEADER = "account,asset,quantity,as_of\n"
WHEN = "2026-01-02T03:04:05Z"


def trade(trade_id="T1", pair="BTC/USD", quantity="0.5", price="60000", fee="1", when=WHEN):
    return f"{trade_id},main,{pair},buy,{quantity},{price},{fee},USD,{when}\n"


@pytest.fixture
def api(make_user):
    return api_as(make_user("risk"))


def post(api, account, fmt, data: bytes, name):
    return post_file(api, account.source, account, fmt, data, name)


def command(account, fmt, data: bytes, name, tmp_path, capsys):
    path = tmp_path / name
    path.write_bytes(data)
    args = [str(path), "--source", account.source.code, "--account", account.code]
    call_command("import_dataset", *args, "--format", fmt, "--json")
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def refused_by_both_doors(api, account, fmt, data, name, tmp_path, capsys) -> dict:
    """The API answers 422 with the row errors, the command exits with them; nothing stored."""
    response = post(api, account, fmt, data, name)
    assert response.status_code == 422, response.content[:500]
    body = response.json()
    assert body["code"] == "dataset_rejected" and body["message"]
    path = tmp_path / name
    path.write_bytes(data)
    args = [str(path), "--source", account.source.code, "--account", account.code]
    with pytest.raises(CommandError) as caught:
        call_command("import_dataset", *args, "--format", fmt)
    assert str(caught.value) == body["message"]
    errors = capsys.readouterr().err
    for error in body["fields"]["errors"]:
        assert f"row {error['row']}" in errors
    assert Dataset.objects.count() == 0
    assert TradeRecord.objects.count() == BalanceRecord.objects.count() == 0
    return body


def row_errors(body) -> set[tuple[int, str]]:
    return {(error["row"], error["column"]) for error in body["fields"]["errors"]}


# --- Values that crash or slip through ---------------------------------------------------------


@pytest.mark.parametrize("pair", ["BTCUSD", "", "BTC/", "/USD", "BTC/USD/EUR", "BTC /USD"])
def test_a_trade_pair_that_is_not_base_slash_quote_is_a_row_error(
    api, book, pair, tmp_path, capsys
):
    data = (TRADES_HEADER + trade("T1") + trade("T2", pair=pair)).encode()
    body = refused_by_both_doors(api, book, "generic-trades", data, "t.csv", tmp_path, capsys)
    assert row_errors(body) == {(3, "pair")}


@pytest.mark.parametrize(
    ("column", "values", "reason"),
    [
        ("quantity", {"quantity": "-0.5"}, "greater than zero"),
        ("quantity", {"quantity": "0"}, "greater than zero"),
        ("quantity", {"quantity": "0.000"}, "greater than zero"),
        ("price", {"price": "-60000"}, "greater than zero"),
        ("price", {"price": "0"}, "greater than zero"),
        ("fee", {"fee": "-1"}, "negative"),
    ],
)
def test_book_trades_refuse_impossible_quantities_prices_and_fees(
    api, book, column, values, reason, tmp_path, capsys
):
    data = (TRADES_HEADER + trade("T1") + trade("T2", **values)).encode()
    body = refused_by_both_doors(api, book, "generic-trades", data, "t.csv", tmp_path, capsys)
    assert row_errors(body) == {(3, column)}
    assert reason in body["fields"]["errors"][0]["reason"]


@pytest.mark.parametrize(
    "when",
    ["2099-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "2009-01-02T23:59:59Z"],
)
def test_times_outside_the_plausible_range_are_row_errors(api, book, when, tmp_path, capsys):
    data = (BALANCES_HEADER + f"main,BTC,1,{WHEN}\nmain,ETH,1,{when}\n").encode()
    body = refused_by_both_doors(api, book, "generic-balances", data, "b.csv", tmp_path, capsys)
    assert row_errors(body) == {(3, "as_of")}


def test_times_outside_the_range_are_refused_in_exchange_files_too(api, kraken, tmp_path, capsys):
    lines = (EXCHANGE / "kraken_trades.csv").read_text().splitlines(keepends=True)
    lines[5] = lines[5].replace('"2025-09-', '"2095-09-', 1)
    data = "".join(lines).encode()
    body = refused_by_both_doors(api, kraken, "kraken-trades", data, "t.csv", tmp_path, capsys)
    assert row_errors(body) == {(6, "time")}


def test_the_edges_of_the_time_range_load(api, book, tmp_path, capsys):
    soon = (datetime.now(UTC) + timedelta(hours=23)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = (BALANCES_HEADER + f"main,BTC,1,2009-01-03T00:00:00Z\nmain,ETH,1,{soon}\n").encode()
    assert post(api, book, "generic-balances", data, "b.csv").status_code == 201


def test_a_pnl_period_may_end_in_the_coming_year(api, book):
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=40)
    data = (
        "account,asset,realised_pnl,currency,period_start,period_end\n"
        f"main,BTC,1.5,USD,2026-01-01T00:00:00Z,{end.isoformat()}\n"
    ).encode()
    assert post(api, book, "generic-pnl", data, "p.csv").status_code == 201


@pytest.mark.parametrize(
    ("column", "character"),
    [
        ("trade_id", "\x00"), ("trade_id", "\x07"), ("trade_id", "\x1b"), ("trade_id", "\t"),
        ("order_id", "\x00"), ("order_id", "\x7f"), ("order_id", "\x85"), ("account", "\x00"),
    ],
)  # fmt: skip
def test_control_characters_in_ids_and_text_are_row_errors(
    api, book, character, column, tmp_path, capsys
):
    # 200 good rows first: a NUL after the first 4 KiB is not taken for a binary file.
    rows = [trade(f"T{n}") for n in range(200)]
    header = TRADES_HEADER.rstrip("\n") + ",order_id\n"
    rows = [row.rstrip("\n") + ",O1\n" for row in rows]
    fields = rows[150].rstrip("\n").split(",")
    index = header.rstrip("\n").split(",").index(column)
    fields[index] = fields[index][:1] + character + fields[index][1:]
    rows[150] = ",".join(fields) + "\n"
    data = (header + "".join(rows)).encode()
    assert data.index(character.encode()) > 4096
    body = refused_by_both_doors(api, book, "generic-trades", data, "t.csv", tmp_path, capsys)
    assert (152, column) in row_errors(body)
    assert any("control character" in e["reason"] for e in body["fields"]["errors"])


def test_a_nul_in_a_kraken_id_is_a_row_error(api, kraken, tmp_path, capsys):
    lines = (EXCHANGE / "kraken_ledgers.csv").read_bytes().splitlines(keepends=True)
    lines[100] = lines[100].replace(b'"L', b'"L\x00', 1)
    data = b"".join(lines)
    body = refused_by_both_doors(api, kraken, "kraken-ledgers", data, "l.csv", tmp_path, capsys)
    assert row_errors(body) == {(101, "txid")}


def test_a_json_row_naming_a_column_twice_is_refused(api, book, tmp_path, capsys):
    first = {"account": "main", "asset": "BTC", "quantity": "1", "as_of": WHEN}
    second = '{"account": "main", "asset": "ETH", "quantity": "1", "quantity": "2", "as_of": "%s"}'
    data = f"[{json.dumps(first)},\n {second.replace('%s', WHEN)}]".encode()
    body = refused_by_both_doors(api, book, "generic-balances", data, "b.json", tmp_path, capsys)
    assert row_errors(body) == {(2, "quantity")}


@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_deeply_nested_json_is_refused(api, book, depth, tmp_path, capsys):
    data = ("[" * depth + "]" * depth).encode()
    body = refused_by_both_doors(api, book, "generic-balances", data, "b.json", tmp_path, capsys)
    assert "nested" in body["message"]


def test_deeply_nested_value_inside_a_json_row_is_refused(api, book, tmp_path, capsys):
    nested = "[" * 50_000 + "]" * 50_000
    data = (
        f'[{{"account": "main", "asset": "BTC", "quantity": "1", "as_of": "{WHEN}", '
        f'"note": {nested}}}]'
    ).encode()
    body = refused_by_both_doors(api, book, "generic-balances", data, "b.json", tmp_path, capsys)
    assert "nested" in body["message"]


# --- Values refused that are fine ------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "exact"),
    [(".5", "0.5"), ("-.5", "-0.5"), ("+.25", "0.25"), ("5.", "5"), ("-5.", "-5")],
)
def test_decimals_without_digits_on_one_side_are_exact(api, book, written, exact):
    data = (BALANCES_HEADER + f"main,BTC,{written},{WHEN}\n").encode()
    response = post(api, book, "generic-balances", data, "b.csv")
    assert response.status_code == 201, response.json()
    assert BalanceRecord.objects.get().quantity == Decimal(exact)


@pytest.mark.parametrize("value", [".", "-.", "..5", "5..", ".5.", "+", "1e5", "0x10"])
def test_things_that_are_not_decimals_are_still_refused(api, book, value, tmp_path, capsys):
    data = (BALANCES_HEADER + f"main,BTC,{value},{WHEN}\n").encode()
    body = refused_by_both_doors(api, book, "generic-balances", data, "b.csv", tmp_path, capsys)
    assert row_errors(body) == {(2, "quantity")}
    assert "too many digits" not in body["fields"]["errors"][0]["reason"]


# --- Line endings and long lines --------------------------------------------------------------


def test_cr_only_book_file_loads_like_the_lf_file(api, book, tmp_path, capsys):
    lines = [f"main,A{n},{n}.5,{WHEN}\n" for n in range(30)]
    data = (BALANCES_HEADER + "".join(lines)).encode()
    result = command(
        book, "generic-balances", data.replace(b"\n", b"\r"), "b.csv", tmp_path, capsys
    )
    assert result["rows"] == 30
    stored = dict(BalanceRecord.objects.values_list("asset", "quantity"))
    assert stored == {f"A{n}": Decimal(f"{n}.5") for n in range(30)}
    rows = sorted(BalanceRecord.objects.values_list("row_number", flat=True))
    assert rows == list(range(2, 32))


def test_a_cr_only_error_names_its_line(api, book, tmp_path, capsys):
    data = f"{BALANCES_HEADER}main,BTC,1,{WHEN}\n\nmain,ETH,x,{WHEN}\n".replace("\n", "\r")
    body = refused_by_both_doors(
        api, book, "generic-balances", data.encode(), "b.csv", tmp_path, capsys
    )
    assert row_errors(body) == {(4, "quantity")}


@pytest.mark.parametrize("pieces", [False, True], ids=["whole", "in-pieces"])
@pytest.mark.parametrize("fmt", ["kraken-ledgers", "kraken-trades"])
def test_cr_only_kraken_exports_load_like_lf(api, kraken, fmt, pieces, monkeypatch):
    name = "kraken_ledgers.csv" if fmt == "kraken-ledgers" else "kraken_trades.csv"
    data = (EXCHANGE / name).read_bytes()
    if pieces:
        monkeypatch.setattr(chunks, "CHUNK_BYTES", 4000)
    cr_only = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    response = post(api, kraken, fmt, cr_only, name)
    assert response.status_code == 201, response.json()
    model = LedgerEntryRecord if fmt == "kraken-ledgers" else TradeRecord
    fields = ("row_number", "asset" if fmt == "kraken-ledgers" else "pair", "extra")
    cr_rows = list(model.objects.order_by("row_number").values_list(*fields))
    other = type(kraken).objects.create(source=kraken.source, code="lf")
    assert post(api, other, fmt, data, name).status_code == 201
    lf_rows = list(model.objects.filter(dataset__account=other).order_by("row_number"))
    assert cr_rows == [tuple(getattr(r, f) for f in fields) for r in lf_rows]
    assert len(cr_rows) == data.count(b"\n") - 1


def test_a_large_file_without_data_rows_says_so(api, kraken, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 4000)
    header = (EXCHANGE / "kraken_ledgers.csv").read_bytes().splitlines()[0]
    data = header + b"\r\n" + b"\r\n" * 5000
    body = refused_by_both_doors(api, kraken, "kraken-ledgers", data, "l.csv", tmp_path, capsys)
    assert "no data rows" in body["message"]


def test_a_line_over_128_kib_loads(api, book):
    note = "x" * (200 * 1024)
    data = f"account,asset,quantity,as_of,note\nmain,BTC,1,{WHEN},{note}\n".encode()
    assert post(api, book, "generic-balances", data, "b.csv").status_code == 201
    assert BalanceRecord.objects.get().extra == {"note": note}


def test_a_long_line_with_a_missing_comma_names_its_line(api, book, tmp_path, capsys):
    note = "x" * (200 * 1024)
    data = f"account,asset,quantity,as_of,note\nmain,BTC,1,{WHEN},a\nmain,{note}\n".encode()
    body = refused_by_both_doors(api, book, "generic-balances", data, "b.csv", tmp_path, capsys)
    assert "line 3" in body["message"]


def test_a_header_over_128_kib_is_read(api, book):
    name = "n" * (200 * 1024)
    data = f"account,asset,quantity,as_of,{name}\nmain,BTC,1,{WHEN},v\n".encode()
    assert post(api, book, "generic-balances", data, "b.csv").status_code == 201
    assert BalanceRecord.objects.get().extra == {name: "v"}


@pytest.mark.parametrize(
    ("fmt", "name", "good", "bad"),
    [
        ("binance", "binance_trades.csv", '"0.2830000000"', '"x.5"'),
        ("coinbase", "coinbase_transactions.csv", ",-3.21080792,", ",-3.2.1,"),
    ],
)
def test_errors_after_blank_lines_show_their_own_value(api, fmt, name, good, bad, tmp_path, capsys):
    source = Source.objects.create(code=fmt, name=fmt, kind="exchange", exchange=fmt)
    account = Account.objects.create(source=source, code="main")
    lines = (EXCHANGE / name).read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if i > 2 and good in line)
    lines[at] = lines[at].replace(good, bad, 1)
    lines.insert(at - 1, "")
    data = "\n".join(lines).encode()
    body = refused_by_both_doors(api, account, fmt, data, name, tmp_path, capsys)
    assert [e["row"] for e in body["fields"]["errors"]] == [at + 2]
    assert body["fields"]["errors"][0]["value"] == bad.strip(",").strip('"')


def test_posted_rows_naming_a_column_twice_are_refused(api, book):
    row = (
        f'{{"account": "main", "asset": "BTC", "quantity": "1", "quantity": "2", "as_of": "{WHEN}"'
    )
    row += "}"
    body = f'{{"source": "book", "account": "main", "format": "generic-balances", "rows": [{row}]}}'
    response = api.post("/api/datasets/", body, content_type="application/json")
    assert response.status_code == 400
    assert "'quantity' twice" in response.json()["message"]
    assert Dataset.objects.count() == 0


def test_a_posted_body_nested_too_deeply_is_refused(api, book):
    body = '{"source": "book", "rows": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api.post("/api/datasets/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["message"]


def test_a_workbook_whose_zip_claims_a_version_zipfile_cannot_read_is_refused(
    api, book, tmp_path, capsys
):
    from tests.reconciliation.format_rows import GENERIC_ROWS, xlsx_of

    data = bytearray(xlsx_of(GENERIC_ROWS["balances"]))
    directory = data.rfind(b"PK\x01\x02")  # the last central directory entry
    data[directory + 6] = 90  # "version needed to extract": 9.0
    body = refused_by_both_doors(
        api, book, "generic-balances", bytes(data), "b.xlsx", tmp_path, capsys
    )
    assert "damaged zip" in body["message"]


def test_the_stored_text_lengths_are_the_record_models_lengths():
    from django.db import models

    from reconciliation.importers import base
    from reconciliation.models.datasets import RECORD_MODELS

    for kind, model in RECORD_MODELS.items():
        for field in model._meta.get_fields():
            if isinstance(field, models.CharField):
                assert base.TEXT_LENGTHS[field.name] == field.max_length, (kind, field.name)


@pytest.mark.parametrize(
    ("fmt", "data", "error"),
    [
        ("generic-trades", TRADES_HEADER + trade("T" * 101), (2, "trade_id")),
        (
            "generic-balances",
            BALANCES_HEADER + f"main,{'B' * 32}.STAKED12,1,{WHEN}\n",
            (2, "asset"),
        ),
        (
            "generic-ledger",
            "entry_id,account,asset,amount,fee,type,occurred_at\n"
            f"E1,main,BTC,1,0,{'t' * 51},{WHEN}\n",
            (2, "type"),
        ),
    ],
)
def test_text_longer_than_its_column_is_a_row_error(api, book, fmt, data, error, tmp_path, capsys):
    body = refused_by_both_doors(api, book, fmt, data.encode(), "f.csv", tmp_path, capsys)
    assert row_errors(body) == {error}
    assert "longer than" in body["fields"]["errors"][0]["reason"]


def test_a_kraken_type_longer_than_its_column_is_a_row_error(api, kraken, tmp_path, capsys):
    lines = (EXCHANGE / "kraken_ledgers.csv").read_text().splitlines(keepends=True)
    lines[15] = lines[15].replace('"earn"', '"' + "e" * 60 + '"', 1)
    assert "e" * 60 in lines[15]
    body = refused_by_both_doors(
        api, kraken, "kraken-ledgers", "".join(lines).encode(), "l.csv", tmp_path, capsys
    )
    assert row_errors(body) == {(16, "type")}


def test_a_blank_first_line_is_refused_as_a_missing_header(api, kraken, tmp_path, capsys):
    data = b"\n" + (EXCHANGE / "kraken_ledgers.csv").read_bytes()
    body = refused_by_both_doors(api, kraken, "kraken-ledgers", data, "l.csv", tmp_path, capsys)
    assert "blank" in body["message"]


@pytest.mark.parametrize(
    ("fmt", "name", "data", "shown"),
    [
        ("generic-trades", "t.csv", TRADES_HEADER + trade(pair="BTCUSD"), "BASE/QUOTE"),
        ("generic-trades", "t.csv", TRADES_HEADER + "".join(trade(f"T{n}") for n in range(90))
         + trade(trade_id="T\x001"), "control character"),
        ("generic-balances", "b.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("generic-balances", "b.csv", BALANCES_HEADER + "main,BTC,1,2099-01-01T00:00:00Z\n",
         "in the future"),
    ],
)  # fmt: skip
def test_the_upload_page_shows_these_refusals_on_the_form(client_as, book, fmt, name, data, shown):
    response = client_as("risk").post(
        "/datasets/upload/",
        {
            "source": "book",
            "account": book.pk,
            "format": fmt,
            "file": SimpleUploadedFile(name, data.encode()),
        },
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "Nothing was loaded" in page or "nothing was loaded" in page
    assert shown in page and 'name="token"' not in page
    assert Dataset.objects.count() == 0


NUL_KEY = f'[{{"account": "main", "asset": "BTC", "quantity": "1", "as_of": "{WHEN}", "k'
NUL_KEY += '\\u0000": "v"}]'


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("b.csv", f"account,asset,quantity,as_of,{'n' * 5000}\x00y\nmain,BTC,1,{WHEN},v\n"),
        (
            "b.json",
            NUL_KEY,
        ),
    ],
    ids=["csv-header", "json-key"],
)
def test_a_column_name_with_a_control_character_is_refused(api, book, name, data, tmp_path, capsys):
    body = refused_by_both_doors(
        api, book, "generic-balances", data.encode(), name, tmp_path, capsys
    )
    assert "control characters" in body["message"]


@pytest.mark.parametrize("fmt", ["kraken-trades", "kraken-ledgers"])
def test_a_quoted_value_holding_a_line_break_names_its_line(api, kraken, fmt, tmp_path, capsys):
    name = "kraken_trades.csv" if fmt == "kraken-trades" else "kraken_ledgers.csv"
    lines = (EXCHANGE / name).read_text().splitlines(keepends=True)
    lines[6] = lines[6].replace('"', '"a\n', 1)  # a break inside the first quoted value
    data = "".join(lines).encode()
    body = refused_by_both_doors(api, kraken, fmt, data, name, tmp_path, capsys)
    assert "line 7 holds a line break" in body["message"]


def test_a_line_break_in_a_book_value_is_refused_not_misnumbered(api, book, tmp_path, capsys):
    data = (
        f'account,asset,quantity,as_of,note\nmain,BTC,1,{WHEN},"two\nlines"\nmain,ETH,x,{WHEN},n\n'
    ).encode()
    body = refused_by_both_doors(api, book, "generic-balances", data, "b.csv", tmp_path, capsys)
    assert "line 2 holds a line break" in body["message"]


def test_a_lone_surrogate_in_a_json_file_is_refused(api, book, tmp_path, capsys):
    data = (
        f'[{{"account": "main", "asset": "BTC", "quantity": "1", "as_of": "{WHEN}"}},'
        f' {{"account": "main", "asset": "ETH", "quantity": "1", "as_of": "{WHEN}",'
        ' "n": "\\ud800"}]'
    ).encode()
    body = refused_by_both_doors(api, book, "generic-balances", data, "b.json", tmp_path, capsys)
    assert body["message"].startswith("Row 2 of the JSON")


def test_a_lone_surrogate_in_posted_rows_is_refused(api, book):
    row = (
        f'{{"account": "main", "asset": "BTC", "quantity": "1", "as_of": "{WHEN}", "n": "\\udc00"}}'
    )
    body = f'{{"source": "book", "account": "main", "format": "generic-balances", "rows": [{row}]}}'
    response = api.post("/api/datasets/", body, content_type="application/json")
    # Refused as the body is read (config/parsers.py), naming the row and field, before any row
    # check: text PostgreSQL cannot hold is a malformed request wherever it is.
    assert response.status_code == 400
    assert response.json()["fields"] == {"rows.0.n": [SURROGATE]}
    assert Dataset.objects.count() == 0


# --- A stray NUL in text is a row error wherever it is; binary files are refused whole ----------


def upload_page_errors(client_as, account, fmt, data: bytes, name) -> set[tuple[int, str]]:
    response = client_as("risk").post(
        "/datasets/upload/",
        {"source": account.source.code, "account": account.pk, "format": fmt,
         "file": SimpleUploadedFile(name, data)},
    )  # fmt: skip
    assert response.status_code == 422 and "token" not in response.context
    return {(error.row, error.column) for error in response.context["errors"]}


@pytest.mark.parametrize("line", [2, 3, 40, 152])  # within the first 4 KiB and after it
@pytest.mark.parametrize("column", ["trade_id", "account"])
def test_a_nul_in_a_csv_text_value_is_a_row_error_wherever_it_is(
    api, book, client_as, line, column, tmp_path, capsys
):
    rows = [trade(f"T{n}") for n in range(200)]
    fields = rows[line - 2].rstrip("\n").split(",")
    index = TRADES_HEADER.rstrip("\n").split(",").index(column)
    fields[index] = fields[index][:1] + "\x00" + fields[index][1:]
    rows[line - 2] = ",".join(fields) + "\n"
    data = (TRADES_HEADER + "".join(rows)).encode()
    body = refused_by_both_doors(api, book, "generic-trades", data, "t.csv", tmp_path, capsys)
    assert row_errors(body) == {(line, column)}
    assert upload_page_errors(client_as, book, "generic-trades", data, "t.csv") == {(line, column)}


def test_a_nul_early_in_a_kraken_export_is_a_row_error(api, kraken, tmp_path, capsys):
    lines = (EXCHANGE / "kraken_ledgers.csv").read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"L', b'"L\x00', 1)
    data = b"".join(lines)
    assert data.index(b"\x00") < 4096
    body = refused_by_both_doors(api, kraken, "kraken-ledgers", data, "l.csv", tmp_path, capsys)
    assert row_errors(body) == {(2, "txid")}


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


@pytest.mark.parametrize(
    ("fmt", "name", "data", "said"),
    [
        ("generic-trades", "t.csv", PNG, "a PNG image"),
        ("generic-trades", "t.csv", b"%PDF-1.7\n" + TRADES_HEADER.encode(), "a PDF file"),
        ("generic-trades", "t.csv", b"PK\x03\x04" + bytes(200), "an XLSX or ZIP file"),
        ("generic-trades", "t.csv", TRADES_HEADER.encode() + bytes(3000), "a binary file"),
        ("kraken-ledgers", "l.csv", PNG, "a PNG image"),
        ("kraken-ledgers", "l.csv", b"\x00\x01\x02\x03" * 500, "a binary file"),
    ],
    ids=["png", "pdf", "zip", "mostly-nul", "kraken-png", "kraken-bytes"],
)
def test_a_file_that_is_not_text_is_refused_as_binary(
    api, book, kraken, fmt, name, data, said, tmp_path, capsys
):
    account = kraken if fmt.startswith("kraken") else book
    body = refused_by_both_doors(api, account, fmt, data, name, tmp_path, capsys)
    assert said in body["message"] and not body["fields"].get("errors")
