"""Loading datasets: exact, idempotent, all or nothing, with clear row errors."""

import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from reconciliation import export
from reconciliation.datasets import ingest
from reconciliation.models import BalanceRecord, Dataset, LedgerEntryRecord, TradeRecord
from tests.reconciliation.conftest import EXCHANGE
from tests.reconciliation.ingest_samples import BALANCES, HUGE, TINY, TRADES, load, rejected

pytestmark = pytest.mark.django_db


def test_extreme_decimals_round_trip_through_import_database_and_export(book):
    dataset = load(book, BALANCES).dataset
    stored = {format(q, "f") for q in BalanceRecord.objects.values_list("quantity", flat=True)}
    assert stored == {HUGE, TINY}
    out = io.StringIO()
    export.write_csv(dataset, out)
    assert f",{HUGE}," in out.getvalue() and f",{TINY}," in out.getvalue()
    out = io.StringIO()
    export.write_json(dataset, out)
    quantities = {row["asset"]: row["quantity"] for row in json.loads(out.getvalue())}
    assert quantities == {"BTC": HUGE, "ETH": TINY}


def test_trades_keep_extra_columns_and_convert_offsets_to_utc(book):
    dataset = load(book, TRADES, "generic-trades").dataset
    second = TradeRecord.objects.get(dataset=dataset, trade_id="T2")
    assert second.executed_at.isoformat() == "2026-01-02T03:00:00+00:00"
    first = TradeRecord.objects.get(dataset=dataset, trade_id="T1")
    assert first.extra == {"desk": "spot, crypto"}
    assert (first.base, first.quote, str(first.price)) == ("BTC", "USD", "60000.100000000000000000")
    assert dataset.period_end.isoformat() == "2026-01-02T03:04:05.123456+00:00"


def test_same_content_twice_is_the_same_dataset(book):
    first = load(book, BALANCES)
    second = load(book, BALANCES, name="renamed.csv")
    assert first.created and not second.created
    assert first.dataset.pk == second.dataset.pk
    assert Dataset.objects.count() == 1
    assert BalanceRecord.objects.count() == 2


def test_a_load_is_audited(book, make_user):
    user = make_user("risk")
    dataset = ingest.import_file(
        source=book.source, account=book, format_code="generic-balances",
        data=BALANCES.encode(), filename="book.csv", by=user,
    ).dataset  # fmt: skip
    event = AuditEvent.objects.get(action="dataset.imported")
    assert event.actor_id == user.pk and event.object_id == str(dataset.pk)
    assert event.after["rows"] == 2 and event.after["file"] == "book.csv"


def test_byte_order_mark_is_accepted(book):
    assert load(book, b"\xef\xbb\xbf" + BALANCES.encode()).dataset.row_count == 2


def test_quoted_fields_with_commas_are_accepted(book):
    dataset = load(book, TRADES, "generic-trades").dataset
    assert TradeRecord.objects.get(dataset=dataset, trade_id="T1").extra["desk"] == "spot, crypto"


def test_missing_column_is_named(book):
    error = rejected(book, "account,asset,as_of\nmain,BTC,2026-01-01T00:00:00Z\n")
    assert "missing column(s) quantity" in error.message


def test_wrong_file_for_the_format_is_refused(book):
    error = rejected(book, TRADES, "generic-balances")
    assert "missing column(s) asset, as_of" in error.message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1,5", "not a plain decimal"),
        ("1e5", "not a plain decimal"),
        ("abc", "not a plain decimal"),
        ("1." + "1" * 19, "too many digits"),
        ("", "a number is required"),
    ],
)
def test_unparsable_number_is_a_row_error(book, value, reason):
    text = (
        "account,asset,quantity,as_of\nmain,BTC,1,2026-01-01T00:00:00Z\n"
        f'main,ETH,"{value}",2026-01-01T00:00:00Z\n'
    )
    error = rejected(book, text)
    (row_error,) = error.errors.first()
    assert (row_error.row, row_error.column, row_error.value) == (3, "quantity", value)
    assert reason in row_error.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-01-01 00:00:00", "has no offset"),
        ("01/02/2026", "not an ISO 8601 time"),
        ("2026-02-30T00:00:00Z", "not a valid date"),
    ],
)
def test_unparsable_date_is_a_row_error(book, value, reason):
    error = rejected(book, f"account,asset,quantity,as_of\nmain,BTC,1,{value}\n")
    (row_error,) = error.errors.first()
    assert (row_error.row, row_error.column) == (2, "as_of")
    assert reason in row_error.reason


def test_duplicate_rows_are_refused(book):
    text = BALANCES + f"main,BTC,{HUGE},2026-02-27T10:16:05Z\n"
    (row_error,) = rejected(book, text).errors.first()
    assert row_error.row == 4 and "duplicate of row 2" in row_error.reason


def test_duplicate_trade_ids_are_refused(book):
    text = TRADES + "T1,main,BTC/USD,sell,1,1,0,USD,2026-01-03T00:00:00Z,O3,y\n"
    (row_error,) = rejected(book, text, "generic-trades").errors.first()
    assert (row_error.row, row_error.value) == (4, "T1")


def test_rows_for_another_account_are_refused(book):
    text = "account,asset,quantity,as_of\nother,BTC,1,2026-01-01T00:00:00Z\n"
    (row_error,) = rejected(book, text).errors.first()
    assert row_error.column == "account" and "another account" in row_error.reason


@pytest.mark.parametrize("content", [b"", b"   \n", b"account,asset,quantity,as_of\n"])
def test_empty_file_is_refused(book, content):
    error = rejected(book, content)
    assert "empty" in error.message or "no data rows" in error.message


def test_wrong_encoding_is_refused_with_the_line(book):
    content = BALANCES.encode() + "main,EUR,1,2026-01-01T00:00:00Z,café\n".encode("latin-1")
    error = rejected(book, content)
    assert "not UTF-8" in error.message and "line 4" in error.message


def test_utf16_is_refused_clearly(book):
    assert "UTF-16" in rejected(book, BALANCES.encode("utf-16")).message


def test_oversized_file_is_refused(book, settings):
    settings.IMPORT_MAX_BYTES = 100
    error = rejected(book, BALANCES)
    assert "the limit is 100" in error.message


def test_file_that_is_not_what_its_extension_says(book):
    assert "not an XLSX workbook" in rejected(book, BALANCES, name="book.xlsx").message
    pdf = b"%PDF-1.7\n..."
    assert "a PDF file, not CSV" in rejected(book, pdf, name="book.csv").message
    assert "not valid JSON" in rejected(book, BALANCES, name="book.json").message


def test_many_errors_list_the_first_hundred_and_the_total(book):
    lines = ["account,asset,quantity,as_of"] + [
        f"main,A{n},x{n},2026-01-01T00:00:00Z" for n in range(150)
    ]
    error = rejected(book, "\n".join(lines) + "\n")
    assert error.errors.total == 150
    assert len(error.errors.first()) == 100
    assert error.fields["error_count"] == 150 and len(error.fields["errors"]) == 100


def test_json_rows_keep_their_exact_digits(book):
    rows = json.dumps(
        [{"account": "main", "asset": "BTC", "quantity": 0.1, "as_of": "2026-01-01T00:00:00Z"}]
    ).replace("0.1", TINY)
    dataset = load(book, rows, name="book.json").dataset
    assert format(BalanceRecord.objects.get(dataset=dataset).quantity, "f") == TINY


def test_kraken_export_loads_with_normalised_assets(kraken):
    data = (EXCHANGE / "kraken_ledgers.csv").read_bytes()
    dataset = load(kraken, data, "kraken-ledgers", "ledgers.csv").dataset
    assert dataset.row_count == 288
    assets = set(LedgerEntryRecord.objects.filter(dataset=dataset).values_list("asset", flat=True))
    assert {"BTC", "USD", "EUR", "DOGE"} <= assets
    assert set(LedgerEntryRecord.objects.values_list("account", flat=True)) == {"main"}


def test_prices_need_no_account_but_a_book_needs_one(price_feed, book):
    text = "asset,quote,price,as_of,source\nBTC,USD,60000.5,2026-01-01T00:00:00Z,feed\n"
    result = ingest.import_file(
        source=price_feed, account=None, format_code="prices", data=text.encode(), filename="p.csv"
    )
    assert result.dataset.kind == "prices" and result.dataset.account is None
    with pytest.raises(ingest.DatasetRejected, match="An account is needed"):
        ingest.import_file(
            source=book.source, account=None, format_code="generic-balances",
            data=BALANCES.encode(), filename="b.csv",
        )  # fmt: skip


def test_zero_or_negative_prices_are_refused(price_feed):
    text = "asset,quote,price,as_of,source\nBTC,USD,0,2026-01-01T00:00:00Z,feed\n"
    with pytest.raises(ingest.DatasetRejected) as caught:
        ingest.import_file(
            source=price_feed, account=None, format_code="prices", data=text.encode(),
            filename="p.csv",
        )  # fmt: skip
    assert "greater than zero" in caught.value.errors.first()[0].reason


def _xlsx(rows) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_book_loads_text_and_exact_number_cells(book):
    data = _xlsx(
        [
            ["account", "asset", "quantity", "as_of"],
            ["main", "BTC", HUGE, "2026-01-01T00:00:00Z"],
            ["main", "ETH", 2.5, "2026-01-01T00:00:00Z"],
        ]
    )
    dataset = load(book, data, name="book.xlsx").dataset
    values = dict(BalanceRecord.objects.filter(dataset=dataset).values_list("asset", "quantity"))
    assert format(values["BTC"], "f") == HUGE
    assert values["ETH"] == __import__("decimal").Decimal("2.5")


def test_xlsx_with_formulas_is_refused(book):
    data = _xlsx(
        [["account", "asset", "quantity", "as_of"], ["main", "BTC", "=1+1", "2026-01-01T00:00:00Z"]]
    )
    error = rejected(book, data, name="book.xlsx")
    (row_error,) = error.errors.first()
    assert (row_error.row, row_error.column) == (2, "quantity")
    assert "formula" in row_error.reason


def test_xlsx_number_cells_beyond_double_precision_are_refused(book):
    data = _xlsx(
        [["account", "asset", "quantity", "as_of"], ["main", "BTC", 1e-20, "2026-01-01T00:00:00Z"]]
    )
    (row_error,) = rejected(book, data, name="book.xlsx").errors.first()
    assert "type it as text" in row_error.reason


def test_xlsx_decompression_bomb_is_refused_before_parsing(book):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<" + b" " * 300_000_000 + b"/>")
    error = rejected(book, out.getvalue(), name="book.xlsx")
    assert "decompression bomb" in error.message


def test_import_command_json_contract(book, tmp_path, capsys):
    path = tmp_path / "book.csv"
    path.write_text(BALANCES)
    args = ["--source", "book", "--account", "main", "--format", "generic-balances", str(path)]
    call_command("import_dataset", *args, "--json")
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    call_command("import_dataset", *args, "--json")
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first == {"dataset_id": first["dataset_id"], "rows": 2, "created": True}
    assert second == {"dataset_id": first["dataset_id"], "rows": 2, "created": False}


def test_import_command_prints_row_errors_and_fails(book, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("account,asset,quantity,as_of\nmain,BTC,one,2026-01-01T00:00:00Z\n")
    args = ["--source", "book", "--account", "main", "--format", "generic-balances", str(path)]
    with pytest.raises(CommandError, match="1 error found; nothing was loaded"):
        call_command("import_dataset", *args)
    assert "row 2, column 'quantity', value 'one'" in capsys.readouterr().err
    assert Dataset.objects.count() == 0


def test_import_command_names_unknown_source(db, tmp_path):
    path = tmp_path / "b.csv"
    path.write_text(BALANCES)
    with pytest.raises(CommandError, match="No source 'nope'"):
        call_command("import_dataset", "--source", "nope", "--account", "x",
                     "--format", "generic-balances", str(path))  # fmt: skip


def test_export_command_writes_normalised_records(book, tmp_path):
    dataset = load(book, BALANCES).dataset
    out = tmp_path / "out.json"
    call_command("export_dataset", dataset.pk, "--format", "json", "--output", str(out))
    rows = json.loads(out.read_text())
    assert [row["quantity"] for row in rows] == [HUGE, TINY]


def test_datasets_are_immutable_in_the_database(book):
    from django.db import DatabaseError, transaction

    dataset = load(book, BALANCES).dataset
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        BalanceRecord.objects.filter(dataset=dataset).update(quantity=0)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        Dataset.objects.filter(pk=dataset.pk).update(row_count=5)


def test_a_row_with_too_many_fields_is_named_by_line(book):
    text = BALANCES + "main,BTC,1.000,5,2026-01-01T00:00:00Z\n"
    error = rejected(book, text)
    assert "line 4 has 5 fields, the header has 4" in error.message


def test_blank_lines_do_not_shift_row_numbers(book):
    text = (
        "account,asset,quantity,as_of\n\nmain,BTC,1,2026-01-01T00:00:00Z\n\r\n"
        "main,ETH,x,2026-01-01T00:00:00Z\n"
    )
    (row_error,) = rejected(book, text).errors.first()
    assert (row_error.row, row_error.value) == (5, "x")


def test_one_impossible_date_among_many_is_found_quickly(book):
    lines = ["account,asset,quantity,as_of"] + [
        f"main,A{n},1,2026-01-01T00:00:00Z" for n in range(20000)
    ]
    lines[15000] = "main,BAD,1,2025-02-30T00:00:00Z"
    (row_error,) = rejected(book, "\n".join(lines) + "\n").errors.first()
    assert (row_error.row, row_error.column) == (15001, "as_of")
