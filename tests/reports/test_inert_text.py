"""A break comment and a correction reason holding formulas and markup, written through the
product's services, come out inert in every format built from the database (issue 16, 5)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import openpyxl
import pypdf
import pytest

from corrections import services as corrections
from corrections.models import Correction
from reconciliation.breaks import workflow
from reconciliation.models import Break, BreakComment
from reports import building, services
from reports.models import Report
from reports.scope import Wanted
from tests.corrections import large_books

pytestmark = pytest.mark.django_db

HOSTILE = ['=HYPERLINK("http://x","y")', "@SUM(1)", "+cmd", "\tleading tab",
           "<script>alert(1)</script>"]  # fmt: skip


@pytest.fixture
def files(make_user, settings):
    run = large_books.finished_run(12)
    risk = make_user("risk")
    found = list(Break.objects.filter(last_seen_run=run).order_by("id"))
    for brk, text in zip(found, HOSTILE, strict=False):
        workflow.comment(brk.pk, text=text, by=risk)
    for brk, text in zip(found[5:], HOSTILE, strict=False):
        corrections.propose(brk, by=risk, reason=text)
    stored = {}
    for format_ in ("csv", "xlsx", "html", "pdf", "json"):
        report = services.request_report(Wanted(run_id=run.pk), format_=format_, by=risk)
        building.build(report.pk)
        report = Report.objects.get(pk=report.pk)
        assert report.status == "ready", report.message
        stored[format_] = (Path(settings.REPORTS_DIR) / report.file_name).read_bytes()
    # What the services stored (a comment's surrounding white space is trimmed as it is saved).
    written = set(BreakComment.objects.values_list("text", flat=True))
    written |= set(Correction.objects.values_list("reason", flat=True))
    return stored, written


def test_every_format_shows_the_text_and_runs_none_of_it(files):
    files, written = files
    assert len(written) >= len(HOSTILE)
    rows = list(csv.reader(io.StringIO(files["csv"].decode("utf-8-sig"))))
    fields = [field for row in rows for field in row]
    for text in written:
        if text[0] in "=+-@\t\r":
            assert "'" + text in fields and text not in fields
        else:
            assert text in fields

    book = openpyxl.load_workbook(io.BytesIO(files["xlsx"]))
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if isinstance(c.value, str)}
    for text in written:
        assert ("'" + text if text[0] in "=+-@\t\r" else text) in texts
    with zipfile.ZipFile(io.BytesIO(files["xlsx"])) as package:
        sheets = [n for n in package.namelist() if n.startswith("xl/worksheets/sheet")]
        assert not any(b"<f>" in package.read(name) for name in sheets)

    page = files["html"].decode("utf-8")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(files["pdf"])).pages)
    flat = " ".join(text.split())
    assert "<script>alert(1)</script>" in flat and '=HYPERLINK("http://x","y")' in flat

    document = json.loads(files["json"])
    shown = {b["comment"] for b in document["breaks"]} | {c["reason"] for c in
                                                          document["corrections"]}  # fmt: skip
    assert written <= shown
