"""`binance-statement` stored and read back exactly: import_dataset, export_dataset, API."""

import json
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from reconciliation.models import Account, Dataset, LedgerEntryRecord, Source
from tests.reconciliation.conftest import EXCHANGE
from tests.reconciliation.doors import confirm_upload, run_against_book

pytestmark = pytest.mark.django_db

EXPECTED = json.loads((EXCHANGE / "statement_margin_expected.json").read_text())
SAMPLES = ["binance_statement_2021.csv", "binance_statement_2025(UTC+1).csv"]


@pytest.fixture
def binance(db):
    source = Source.objects.create(
        code="binance", name="Binance", kind="exchange", exchange="binance"
    )
    return Account.objects.create(source=source, code="main")


def net(rows) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row["asset"]] += Decimal(row["amount"]) - Decimal(row["fee"])
    return dict(totals)


def expected_net(name: str) -> dict[str, Decimal]:
    return {asset: Decimal(v) for asset, v in EXPECTED[name]["net_by_asset"].items()}


def imported(path, capsys) -> dict:
    call_command("import_dataset", "--source", "binance", "--account", "main",
                 "--format", "binance-statement", str(path), "--json")  # fmt: skip
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("name", SAMPLES)
def test_the_command_stores_a_statement_that_exports_back_exactly(name, binance, tmp_path, capsys):
    path = tmp_path / name
    path.write_bytes((EXCHANGE / name).read_bytes())
    line = imported(path, capsys)
    assert line["created"] is True and line["rows"] == EXPECTED[name]["data_rows"]
    dataset = Dataset.objects.get(pk=line["dataset_id"])
    assert (dataset.kind, dataset.format, dataset.account) == ("ledger", "binance-statement",
                                                               binance)  # fmt: skip
    assert dataset.period_start.strftime("%Y-%m-%dT%H:%M:%SZ") == EXPECTED[name]["first_utc"]
    assert dataset.period_end.strftime("%Y-%m-%dT%H:%M:%SZ") == EXPECTED[name]["last_utc"]

    out = tmp_path / "out.json"
    call_command("export_dataset", dataset.pk, "--format", "json", "--output", str(out))
    rows = json.loads(out.read_text())
    assert len(rows) == EXPECTED[name]["data_rows"]
    assert net(rows) == expected_net(name)
    assert {row["account"] for row in rows} == {"main"}
    assert len({row["entry_id"] for row in rows}) == len(rows)

    again = imported(path, capsys)
    assert again == {**line, "created": False}


def test_csv_export_keeps_the_exact_amounts(binance, tmp_path, capsys):
    import csv

    name = SAMPLES[1]
    path = tmp_path / name
    path.write_bytes((EXCHANGE / name).read_bytes())
    line = imported(path, capsys)
    out = tmp_path / "out.csv"
    call_command("export_dataset", line["dataset_id"], "--format", "csv", "--output", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert net(rows) == expected_net(name)


def test_the_api_stores_a_statement_and_its_records_read_back_exactly(binance, make_user):
    client = APIClient()
    client.force_authenticate(make_user("risk"))
    name = SAMPLES[1]
    response = client.post(
        "/api/datasets/",
        {
            "source": "binance",
            "account": "main",
            "format": "binance-statement",
            "file": SimpleUploadedFile(name, (EXCHANGE / name).read_bytes()),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    dataset = response.json()["dataset"]
    assert dataset["row_count"] == EXPECTED[name]["data_rows"]
    rows, url = [], f"/api/datasets/{dataset['id']}/records/?page_size=100"
    while url:
        page = client.get(url).json()
        rows += page["results"]
        url = page["next"]
    assert len(rows) == EXPECTED[name]["data_rows"]
    assert net(rows) == expected_net(name)
    assert Dataset.objects.get(pk=dataset["id"]).notes["utc_offset"] == "+01:00"


def test_a_bad_statement_stores_nothing_and_the_command_names_the_row(binance, tmp_path, capsys):
    path = tmp_path / "statement.csv"
    path.write_text("User_ID,UTC_Time,Account,Operation,Coin,Change,Remark\n"
                    "1,2024-01-01 00:00:00,Spot,Deposit,BTC,1,\n"
                    "1,2024-01-01 00:00:00,Spot,Deposit,BTC,1.2.3,\n")  # fmt: skip
    with pytest.raises(CommandError, match="1 error found; nothing was loaded"):
        call_command("import_dataset", "--source", "binance", "--account", "main",
                     "--format", "binance-statement", str(path))  # fmt: skip
    assert "row 3, column 'Change', value '1.2.3'" in capsys.readouterr().err
    assert Dataset.objects.count() == 0 and LedgerEntryRecord.objects.count() == 0


def test_the_upload_page_previews_and_loads_a_statement(binance, client_as):
    client = client_as("risk")
    name = SAMPLES[0]
    preview = client.post(
        "/datasets/upload/",
        {
            "source": "binance",
            "account": binance.pk,
            "format": "binance-statement",
            "file": SimpleUploadedFile(name, (EXCHANGE / name).read_bytes()),
        },
    )
    assert preview.status_code == 200, preview.content.decode()[:500]
    assert f"{EXPECTED[name]['data_rows']} rows for" in preview.content.decode()
    assert Dataset.objects.count() == 0
    confirm_upload(client, preview.context["token"])
    dataset = Dataset.objects.get()
    rows = LedgerEntryRecord.objects.filter(dataset=dataset).values("asset", "amount", "fee")
    assert net(rows) == expected_net(name)


def test_a_statement_is_the_exchange_side_of_a_position_run(binance, book):
    from reconciliation.datasets import ingest
    from reconciliation.models import Break, BreakObservation

    name = SAMPLES[1]
    exchange = ingest.import_file(
        source=binance.source, account=binance, format_code="binance-statement",
        data=(EXCHANGE / name).read_bytes(), filename=name,
    ).dataset  # fmt: skip
    held = expected_net(name)
    booked = {**held, "SOL": held["SOL"] * 10}  # the book's SOL a decimal place off
    text = "account,asset,quantity,as_of\n" + "".join(
        f"main,{asset},{quantity},{EXPECTED[name]['last_utc']}\n"
        for asset, quantity in sorted(booked.items())
    )
    run = run_against_book(book, "generic-balances", text, "position", exchange)
    [seen] = BreakObservation.objects.filter(run=run).select_related("break_record")
    assert (seen.break_record.asset, seen.internal_value, seen.external_value) == (
        "SOL", held["SOL"] * 10, held["SOL"],
    )  # fmt: skip
    assert "decimal_shift" in Break.objects.get(asset="SOL").causes
