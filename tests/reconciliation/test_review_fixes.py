"""Edge cases found in review: retries, redelivery, headers, escaping, pieces, history runs."""

import io

import pytest
from django.test import RequestFactory
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request

from config.idempotency import request_fingerprint
from reconciliation import break_workflow, demo_data, ingest, run_execution, runs
from reconciliation.importers import chunks
from reconciliation.models import Break, BreakObservation, Dataset, Run
from tests.reconciliation.conftest import EXCHANGE
from tests.reconciliation.test_ingest import BALANCES, rejected

pytestmark = pytest.mark.django_db


def _multipart(boundary: str) -> Request:
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="source"\r\n\r\nbook\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    django_request = RequestFactory().generic(
        "POST", "/api/datasets/", body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    return Request(django_request, parsers=[MultiPartParser()])


def test_a_retried_upload_has_the_same_fingerprint_whatever_its_boundary():
    assert request_fingerprint(_multipart("AAAA1111")) == request_fingerprint(
        _multipart("BBBB2222")
    )


@pytest.fixture
def demo():
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}


def test_a_run_stored_by_a_worker_that_died_before_finishing_is_finished_on_redelivery(demo):
    run = runs.start_run(type="position", internal=demo["book balances"],
                         external=demo["kraken ledgers"])  # fmt: skip
    run_execution.execute_run(run.pk)
    Run.objects.filter(pk=run.pk).update(status="running", finished_at=None)  # died here
    assert run_execution.execute_run(run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.status == "succeeded" and run.finished_at is not None
    assert BreakObservation.objects.filter(run=run).count() == run.break_count


def test_a_run_of_older_data_changes_no_status(demo):
    def run_at(internal):
        run = runs.start_run(type="position", internal=internal, external=demo["kraken ledgers"])
        run_execution.execute_run(run.pk)
        return Run.objects.get(pk=run.pk)

    latest = run_at(demo["book balances"])
    older_book = demo_data.book_balances(demo_data._ledger_rows(), "2026-01-01T00:00:00Z")
    older = ingest.import_file(
        source=demo["book balances"].source, account=demo["book balances"].account,
        format_code="generic-balances", data=older_book.replace(b"main,BTC", b"main,BTC "),
        filename="older.csv",
    ).dataset  # fmt: skip
    Break.objects.filter(last_seen_run=latest).update(status="investigating")
    history = run_at(older)
    assert history.as_of < latest.as_of
    assert set(Break.objects.filter(first_seen_run=latest).values_list("status", flat=True)) == {
        "investigating"
    }
    assert not Break.objects.filter(first_seen_run=history, status="open").exists()


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
    from reconciliation.break_selectors import run_matches

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


def test_bulk_reopen_is_all_or_nothing(demo):
    run = runs.start_run(type="position", internal=demo["book balances"],
                         external=demo["kraken ledgers"])  # fmt: skip
    run_execution.execute_run(run.pk)
    first, second = Break.objects.order_by("pk")[:2]
    break_workflow.accept([first.pk], reason="known lag", by=None)
    with pytest.raises(break_workflow.BreakActionRefused):
        break_workflow.reopen([first.pk, second.pk], by=None)
    first.refresh_from_db()
    assert first.status == "accepted"


def test_bulk_actions_never_redirect_elsewhere(client_as, demo):
    response = client_as("risk").post(
        "/breaks/bulk/", {"action": "investigate", "ids": [], "next": "https://evil.example/"}
    )
    assert response["Location"] == "/breaks/"


def test_a_source_mismatch_is_refused_even_for_known_content(book, kraken):
    ingest.import_file(source=book.source, account=book, format_code="generic-balances",
                       data=BALANCES.encode(), filename="b.csv")  # fmt: skip
    with pytest.raises(ingest.DatasetRejected, match="does not belong"):
        ingest.import_file(source=kraken.source, account=book, format_code="generic-balances",
                           data=BALANCES.encode(), filename="b.csv")  # fmt: skip
