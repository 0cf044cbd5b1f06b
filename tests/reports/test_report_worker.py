"""Reports asked for on the page and built by a real Celery worker, then downloaded and opened
with real readers: the Excel file with openpyxl, the HTML with a parser, the JSON with json."""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser

import openpyxl
import pytest

from reports.models import Report
from tests.corrections import large_books
from tests.worker import sending_to, wait_until_ended, worker_process

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def test_reports_built_by_a_worker_open_in_their_readers(client_as, settings):
    run = large_books.finished_run(30)
    finance = client_as("finance")
    env = {"REPORTS_DIR": str(settings.REPORTS_DIR)}
    with worker_process(extra_env=env) as worker, sending_to(worker.queue):
        response = finance.post("/reports/", {"scope": "run", "run": run.pk,
                                              "formats": ["xlsx", "html", "json"]})  # fmt: skip
        assert response.status_code == 302
        reports = {r.format: wait_until_ended(r, worker, timeout=120)
                   for r in Report.objects.order_by("id")}  # fmt: skip
    assert {f: r.status for f, r in reports.items()} == dict.fromkeys(reports, "ready")
    files = {}
    for format_, report in reports.items():
        answer = finance.get(f"/reports/{report.pk}/download/")
        assert answer.status_code == 200
        files[format_] = b"".join(answer.streaming_content)
    document = json.loads(files["json"])
    assert len(document["breaks"]) == run.break_count == 30
    book = openpyxl.load_workbook(io.BytesIO(files["xlsx"]))
    assert book.sheetnames[:2] == ["Summary", "Breaks"]
    breaks = book["Breaks"]
    ids = [row[0] for row in breaks.iter_rows(min_row=3, values_only=True) if row[0] is not None]
    assert sorted(ids) == sorted(b["id"] for b in document["breaks"])
    parser = _Text()
    parser.feed(files["html"].decode("utf-8"))
    text = " ".join(parser.parts)
    # Each build reads the audit chain's head as it starts (the builds before it are in it).
    assert document["title"] in text and reports["html"].chain_hash in text
    assert document["chain_head"]["hash"] == reports["json"].chain_hash
