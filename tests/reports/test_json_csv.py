"""The JSON and CSV renderers, read back with the json and csv modules: the content's figures
to the last digit, hostile text inert."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from reports.renderers import csv_report, json_report
from reports.renderers.common import exact
from tests.reports.sample import HOSTILE, TINY, WIDE, empty_content, sample_content


def _json(content) -> dict:
    out = io.BytesIO()
    json_report.render(content, out)
    return json.loads(out.getvalue().decode("utf-8"))


def _sections(content) -> dict[str, list[list[str]]]:
    data = b"".join(csv_report.chunks(content)).decode("utf-8")
    assert data.startswith("\ufeff")
    sections, name = {}, "Report"
    for line in csv.reader(io.StringIO(data[1:])):
        if not line:
            name = None
            continue
        if name is None:
            name = line[0]
            sections[name] = []
            continue
        sections.setdefault(name, []).append(line)
    return sections


def test_json_holds_every_amount_as_its_exact_digits():
    content = sample_content()
    document = _json(content)
    assert document["format"] == "recondesk-report" and document["format_version"] == 1
    for shown, line in zip(document["breaks"], content.breaks, strict=True):
        for name in ("internal_value", "external_value", "difference", "value_rc"):
            assert Decimal(shown[name]) == getattr(line, name)
            assert shown[name] == exact(getattr(line, name))
    assert document["breaks"][0]["difference"] == "1.000000000000000001" == exact(TINY)
    assert document["breaks"][1]["difference"] == exact(WIDE)
    assert Decimal(document["value_at_risk"]) == content.value_at_risk
    assert document["chain_head"] == {"sequence": 4242, "hash": "ab" * 32}
    assert document["corrections"][4]["rejection_reason"] == content.corrections[4].rejection_reason
    assert document["generated_at"] == content.generated_at.isoformat()


def test_json_written_list_by_list_is_the_whole_document(monkeypatch):
    content = sample_content()
    monkeypatch.setattr(json_report, "BATCH", 2)  # several writes for each long list
    streamed = _json(content)
    assert streamed == json.loads(json.dumps(json_report.document(content)))
    assert len(streamed["breaks"]) == len(content.breaks) > 2
    empty = _json(empty_content())
    assert all(empty[name] == [] for name in json_report.LISTS)


def test_json_keeps_user_text_as_written():
    comments = {line["comment"] for line in _json(sample_content())["breaks"]}
    assert set(HOSTILE) <= comments  # JSON is data: text is kept exactly, readers escape it


def test_csv_breaks_and_corrections_to_the_last_digit():
    content = sample_content()
    sections = _sections(content)
    header, *breaks = sections["Breaks"]
    assert tuple(header) == csv_report.BREAK_COLUMNS
    assert len(breaks) == len(content.breaks)
    at = {name: header.index(name) for name in header}
    for shown, line in zip(breaks, content.breaks, strict=True):
        assert int(shown[at["break"]]) == line.id
        for name in ("internal_value", "external_value", "difference", "value_rc"):
            assert Decimal(shown[at[name]]) == getattr(line, name)
    assert breaks[0][at["difference"]] == "1.000000000000000001"
    header, *corrections = sections["Corrections"]
    assert len(corrections) == len(content.corrections)
    delta = header.index("delta")
    for shown, line in zip(corrections, content.corrections, strict=True):
        assert Decimal(shown[delta]) == line.delta


def test_csv_text_is_inert_and_otherwise_unchanged():
    sections = _sections(sample_content())
    header, *breaks = sections["Breaks"]
    comments = [line[header.index("latest_comment")] for line in breaks]
    for hostile in HOSTILE:
        if hostile[0] in "=+-@\t\r":
            assert "'" + hostile in comments and hostile not in comments
        else:
            assert hostile in comments  # "<script>" is harmless in a CSV
    header, *corrections = sections["Corrections"]
    reasons = {line[header.index("reason")] for line in corrections}
    assert '\'=HYPERLINK("http://x","y")' in reasons and "'@SUM(1)" in reasons
    approvers = {line[header.index("approvers")] for line in corrections}
    assert "risk-bob, =cmd|' /C calc'!A0" in approvers  # inner text: not at a cell's start
    every_field = [field for rows in sections.values() for row in rows for field in row]
    for field in every_field:
        if field and field[0] in "=+@\t\r":
            raise AssertionError(f"live formula in the CSV: {field!r}")
        if field.startswith("-"):
            Decimal(field)  # only a negative amount may start with a minus


def test_csv_figures_and_header():
    content = sample_content()
    sections = _sections(content)
    about = dict((line[0], line[1]) for line in sections["Report"] if len(line) == 2)
    assert about["Audit chain head"] == f"4242 {'ab' * 32}"
    assert about["Reporting currency"] == "USD"
    figures = {line[0]: line for line in sections["Figures"][1:]}
    assert Decimal(figures["value_at_risk"][2]) == content.value_at_risk


def test_an_empty_content_renders_both():
    assert _json(empty_content())["breaks"] == []
    sections = _sections(empty_content())
    assert sections["Breaks"] == [list(csv_report.BREAK_COLUMNS)]
