"""Loading unusual inputs: repeated headers, quoted ids, blank-ended pieces, size, source."""

import io

import pytest

from reconciliation.datasets import ingest
from reconciliation.importers import chunks
from reconciliation.models import Dataset
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from tests.reconciliation.conftest import EXCHANGE
from tests.reconciliation.ingest_samples import BALANCES, rejected

pytestmark = pytest.mark.django_db


def test_headers_repeated_in_another_case_are_refused(book):
    text = "account,asset,Asset,quantity,as_of\nmain,BTC,BTC,1,2026-01-01T00:00:00Z\n"
    assert "names a column twice: asset" in rejected(book, text).message


def _workbook(header) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(header)
    workbook.active.append(["main", "BTC", "x", "y", "1", "2026-01-01T00:00:00Z"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_with_repeated_headers_is_refused_and_blank_ones_are_kept(book):
    repeated = _workbook(["account", "asset", "note", "note", "quantity", "as_of"])
    assert "names a column twice: note" in rejected(book, repeated, name="b.xlsx").message
    blank = _workbook(["account", "asset", None, None, "quantity", "as_of"])
    dataset = ingest.import_file(
        source=book.source, account=book, data=blank, format_code="generic-balances",
        filename="b.xlsx",
    ).dataset  # fmt: skip
    from reconciliation.models import BalanceRecord

    assert BalanceRecord.objects.get(dataset=dataset).extra == {"_column_3": "x", "_column_4": "y"}


def test_trade_ids_with_quotes_and_backslashes_are_stored_exactly(book, kraken):
    head = "trade_id,account,pair,side,quantity,price,fee,fee_asset,executed_at,exchange_trade_id\n"
    row = "main,BTC/USD,buy,1,100,0.1,USD,2026-01-01T00:00:00Z"
    internal = ingest.import_file(
        source=book.source, account=book, format_code="generic-trades",
        data=(head + f'"T""1\\\\x",{row},"E""1"\n').encode(), filename="b.csv",
    ).dataset  # fmt: skip
    kraken_rows = ingest.import_file(
        source=kraken.source, account=kraken, format_code="generic-trades",
        data=(head.replace(",exchange_trade_id", "") + f'"E""1",{row}\n').encode(),
        filename="k.csv",
    ).dataset  # fmt: skip
    run = runs.start_run(type="trades", internal=internal, external=kraken_rows)
    assert run_execution.execute_run(run.pk) == "succeeded"
    from reconciliation.runs.selectors import run_matches

    (match,) = run_matches(run).to_dicts()
    assert match["internal_ids"] == ['T"1\\\\x'] and match["external_ids"] == ['E"1']


def test_pieces_ending_in_blank_lines_load_like_one_pass(kraken, monkeypatch):
    data = (EXCHANGE / "kraken_ledgers.csv").read_bytes().rstrip(b"\n") + b"\n\r\n\n"
    last_line = data.rstrip().rfind(b"\n")
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 2000)
    sizes = [size for size in range(1500, 2600, 37)]
    for size in sizes:
        pieces = [(s, e) for s, e in chunks.pieces(data, size)]
        if any(s > last_line for s, _ in pieces):
            monkeypatch.setattr(chunks, "CHUNK_BYTES", size)
            break
    result = ingest.import_file(source=kraken.source, account=kraken, format_code="kraken-ledgers",
                                data=data, filename="ledgers.csv")  # fmt: skip
    assert result.dataset.row_count == 288


def test_oversized_upload_is_refused_before_it_is_read(client_as, book, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.IMPORT_MAX_BYTES = 10
    response = client_as("risk").post("/api/datasets/", {
        "source": "book", "account": "main", "format": "generic-balances",
        "file": SimpleUploadedFile("b.csv", BALANCES.encode()),
    })  # fmt: skip
    assert response.status_code == 422 and "the limit is 10" in response.json()["message"]
    assert not Dataset.objects.exists()


def test_a_source_mismatch_is_refused_even_for_known_content(book, kraken):
    ingest.import_file(source=book.source, account=book, format_code="generic-balances",
                       data=BALANCES.encode(), filename="b.csv")  # fmt: skip
    with pytest.raises(ingest.DatasetRejected, match="does not belong"):
        ingest.import_file(source=kraken.source, account=book, format_code="generic-balances",
                           data=BALANCES.encode(), filename="b.csv")  # fmt: skip
