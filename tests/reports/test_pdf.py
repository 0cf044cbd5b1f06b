"""The PDF report, read back with pypdf: page numbering, the cover, exact digits, literal hostile
text, byte identity, the break limit, empty and oversized contents, and the charts."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pypdf import PdfReader
from reportlab.graphics.shapes import Group, String, UserNode

from reports.content import types as t
from reports.renderers import pdf
from reports.renderers.common import exact, grouped, stamp
from reports.renderers.pdf_charts import drawing
from tests.reports.sample import HOSTILE, TINY, WIDE, empty_content, sample_content

LONG_WORD = "x" * 700
HASHLIKE = "f" * 64
MARKUP = '<b>bold</b> &amp; <br/> <para> </font> <img src="x"/> ]]> &#0; \0 end'


def rendered(content: t.ReportContent) -> bytes:
    out = io.BytesIO()
    pdf.render(content, out)
    return out.getvalue()


def pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def squeezed(text: str) -> str:
    """Text without whitespace or thousands separators: pypdf returns a table's cells in reading
    order but splits and joins lines as the page's layout has them."""
    return re.sub(r"[\s,]", "", text)


def shown(text: str) -> str:
    """User text as the PDF prints it: whitespace runs (a tab, a carriage return) as one space."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def sample() -> t.ReportContent:
    return sample_content(40, 12)


@pytest.fixture(scope="module")
def sample_pages(sample) -> list[str]:
    return pages(rendered(sample))


def test_every_page_says_page_n_of_m(sample_pages):
    total = len(sample_pages)
    assert total > 1
    for number, text in enumerate(sample_pages, start=1):
        assert f"Page {number} of {total}" in text
        assert stamp(sample_content(0, 0).generated_at) in text  # the footer's generated-at


def test_cover_names_title_chain_head_and_rule_set(sample, sample_pages):
    cover = sample_pages[0]
    assert sample.title in cover
    assert sample.chain_head.hash in cover  # in full, on the cover
    assert str(sample.chain_head.sequence) in cover
    for version in sample.rule_set_versions:
        assert version in cover
    assert sample.generated_by in cover
    assert stamp(sample.generated_at) in cover
    assert sample.reporting_currency in cover


def test_footer_carries_rule_set_and_chain_head_on_every_page(sample, sample_pages):
    for text in sample_pages:
        assert sample.rule_set_versions[0] in text
        assert f"#{sample.chain_head.sequence} {sample.chain_head.hash[:10]}" in text


def test_each_section_is_a_bookmark_to_its_page(sample):
    reader = PdfReader(io.BytesIO(rendered(sample)))
    marks = {entry.title: reader.get_destination_page_number(entry) for entry in reader.outline}
    for title in ("Executive summary", "Charts", "Breaks", "Corrections", "Audit trail"):
        assert title in reader.pages[marks[title]].extract_text()
    assert marks["Executive summary"] == 1 < marks["Breaks"] < marks["Audit trail"]


def test_amounts_keep_every_digit(sample, sample_pages):
    text = squeezed("".join(sample_pages))
    assert sample.breaks[0].difference == TINY and sample.breaks[1].difference == WIDE
    for amount in (TINY, WIDE):
        assert exact(amount) in text
    for line in sample.breaks[:12]:
        for value in (line.internal_value, line.external_value, line.difference, line.value_rc):
            assert exact(value) in text, value
    for line in sample.corrections:
        for value in (line.original_value, line.delta, line.impact_rc):
            assert exact(value) in text, value
    assert exact(sample.value_at_risk) in text


def test_amounts_are_grouped_in_thousands(sample, sample_pages):
    # The widest amounts fit their columns on one line, so pypdf gives them back whole.
    text = "".join(sample_pages)
    assert grouped(WIDE) in text
    assert grouped(sample.breaks[1].value_rc) in text
    assert grouped(sample.value_at_risk) in text


def test_hostile_text_is_printed_literally(sample, sample_pages):
    text = "\n".join(sample_pages)
    for hostile in HOSTILE:
        assert shown(hostile) in text, hostile
    assert "<script>alert(1)</script>" in text  # escaped, not swallowed as markup
    assert "=cmd|' /C calc'!A0" in text  # an approver's name
    rejected = next(c for c in sample.corrections if c.rejection_reason)
    assert f"Rejected: {shown(rejected.rejection_reason)}" in text


def test_markup_in_wrapped_paragraphs_is_escaped(sample):
    # Critical issues and the author's name are always paragraphs (the wrapping path).
    summary = replace(sample.summary, critical_issues=(*HOSTILE, "<b>not bold</b> & <i>"))
    content = replace(sample, summary=summary, generated_by="<script>alert(1)</script>")
    texts = pages(rendered(content))
    for hostile in (*HOSTILE, "<b>not bold</b> & <i>"):
        assert shown(hostile) in texts[1], hostile
    assert "<script>alert(1)</script>" in texts[0]


def test_same_content_gives_the_same_bytes(sample):
    first, second = rendered(sample), rendered(sample)
    assert first == second
    info = PdfReader(io.BytesIO(first)).metadata
    assert info["/CreationDate"] == sample.generated_at.strftime("D:%Y%m%d%H%M%S+00'00'")
    assert info["/ModDate"] == info["/CreationDate"]
    assert info.title == sample.title


def test_changed_content_changes_the_bytes(sample):
    later = replace(sample, generated_at=datetime(2026, 12, 1, 9, tzinfo=UTC))
    assert rendered(later) != rendered(sample)


def test_only_the_top_breaks_are_listed_and_the_rest_is_pointed_to(sample, monkeypatch):
    monkeypatch.setattr(pdf, "PDF_BREAK_LIMIT", 5)
    monkeypatch.setattr(pdf, "PDF_LIST_LIMIT", 3)
    text = "\n".join(pages(rendered(sample)))
    flat = shown(text)
    assert "Showing the first 5 of 40 breaks" in flat
    assert "Showing the first 3 of 12 corrections" in flat
    assert flat.count("The full list is in the Excel and CSV files of this report.") >= 2
    listed = text[text.index("Showing the first 5 of 40 breaks") : text.index("Corrections")]
    assert listed.count("since run") == 5  # one per break row
    for line in sample.breaks[:5]:
        assert exact(line.value_rc) in squeezed(listed)
    assert exact(sample.breaks[5].value_rc) not in squeezed(listed)


def test_all_breaks_listed_says_so(sample_pages):
    assert "All 40 breaks in the scope" in shown("\n".join(sample_pages))


def test_empty_content_renders_and_says_there_is_nothing(monkeypatch):
    data = rendered(empty_content())
    texts = pages(data)
    flat = shown("\n".join(texts))
    assert texts and f"Page 1 of {len(texts)}" in texts[0]
    assert "There are no breaks in this scope." in flat
    assert "No runs in this scope." in flat
    assert "No charts" in flat
    assert empty_content().scope.description in flat


def stress_content() -> t.ReportContent:
    """Everything as long, wide, odd and hostile as a user or a data source could make it."""
    base = sample_content(30, 8)
    breaks = list(base.breaks)
    breaks[0] = replace(breaks[0], comment=LONG_WORD, asset="A" * 90, account=HASHLIKE)
    breaks[1] = replace(breaks[1], comment="日本語 😀 émoji مرحبا " + MARKUP)
    breaks[2] = replace(breaks[2], value_rc=-WIDE * 1000, internal_value=None)
    corrections = list(base.corrections)
    corrections[0] = replace(
        corrections[0],
        reason="nospaces" * 400,
        rejection_reason=MARKUP,
        approvers=tuple(f"approver-{i}-{HASHLIKE}" for i in range(6)),
        impact_rc=-WIDE * 10**6,
    )
    many = tuple(f"category {i} with a long name {HASHLIKE}" for i in range(40))
    charts = (
        t.Chart(
            "bars",
            "Forty bars " + MARKUP,
            "bar",
            many,
            (t.Series("USD", tuple(WIDE * i for i in range(40))),),
            "USD",
        ),
        t.Chart(
            "columns",
            "Thirty columns",
            "column",
            many[:30],
            (
                t.Series("a", tuple(Decimal(i) - 10 for i in range(30))),
                t.Series("b", tuple(TINY * i for i in range(30))),
            ),
            "breaks",
            "Hour",
            "Count",
        ),
        t.Chart(
            "slices",
            "Fifteen slices",
            "pie",
            many[:15],
            (t.Series("USD", tuple(WIDE + i for i in range(15))),),
            "USD",
        ),
        t.Chart("zeros", "All zero", "pie", ("a", "b"), (t.Series("x", (0, 0)),)),
        t.Chart("zero_columns", "All zero columns", "column", ("a", "b"), (t.Series("x", (0, 0)),)),
        t.Chart("negative_pie", "Negative pie", "pie", ("a", "b"), (t.Series("x", (-1, 2)),)),
        t.Chart("ragged", "Ragged", "column", ("a", "b"), (t.Series("x", (1,)),)),
        t.Chart("none", "No categories", "bar", (), ()),
    )
    figures = tuple(
        t.Figure(
            f"f{i}",
            f"Figure {i} {MARKUP}",
            WIDE * 10**i if i % 3 else None,
            "USD",
            "A definition " + LONG_WORD,
            "a note",
        )
        for i in range(7)
    )
    return replace(
        base,
        title="Report " + MARKUP + " " + LONG_WORD,
        generated_by="<script>alert(1)</script>",
        rule_set_versions=tuple(f"Rule set {i} {HASHLIKE}" for i in range(8)),
        scope=replace(
            base.scope,
            description="Scope " + LONG_WORD,
            filters={"source": "<b>x</b>", "severity": "critical"},
        ),
        summary=replace(base.summary, key_figures=figures, critical_issues=(LONG_WORD, MARKUP)),
        by_type=tuple(t.Tally(f"type-{i}-{HASHLIKE}", i, WIDE * i) for i in range(45)),
        breaks=tuple(breaks),
        corrections=tuple(corrections),
        comments=(*base.comments, t.CommentLine(1000, HASHLIKE * 3, base.generated_at, LONG_WORD)),
        audit=(*base.audit, replace(base.audit[0], action=LONG_WORD, object_id=HASHLIKE)),
        charts=charts,
    )


def test_long_and_hostile_text_never_breaks_the_build():
    content = stress_content()
    data = rendered(content)
    texts = pages(data)
    flat = "\n".join(texts)
    assert len(texts) > 1 and f"Page {len(texts)} of {len(texts)}" in texts[-1]
    assert "<b>bold</b> &amp; <br/>" in flat  # markup shown as typed
    assert "xxxxxxxx…" in flat  # a long unbroken comment is cut, visibly
    assert exact(-WIDE * 10**6) in squeezed(flat)
    assert rendered(content) == data


def strings(node) -> list[str]:
    """Every text a drawing shows, its charts expanded into their shapes."""
    if isinstance(node, UserNode):  # a chart widget: its shapes
        node = node.draw()
    if isinstance(node, String):
        return [node.text]
    if isinstance(node, Group):
        return [text for child in node.contents for text in strings(child)]
    return []


@pytest.mark.parametrize("kind", ["bar", "column", "pie"])
def test_a_chart_labels_its_values_with_their_exact_digits(kind):
    chart = t.Chart(
        "k",
        "Value by asset",
        kind,
        ("BTC", "ETH", "SOL"),
        (t.Series("USD", (WIDE, TINY, Decimal(7))),),
        "USD",
    )
    made = drawing(chart, 480, 220)
    assert (made.width, made.height) == (480, 220)
    texts = strings(made)
    assert "Value by asset" in texts
    for value in (WIDE, TINY, Decimal(7)):
        assert grouped(value) in texts
    for name in ("BTC", "ETH", "SOL"):
        assert name in texts


def test_a_chart_with_nothing_to_draw_says_so():
    for chart in (
        t.Chart("k", "Empty", "column", (), ()),
        t.Chart("k", "Zero pie", "pie", ("a",), (t.Series("x", (0,)),)),
    ):
        assert "Nothing to draw: no values in this scope." in strings(drawing(chart, 400, 200))


def test_the_sample_charts_show_their_values_in_the_pdf(sample, sample_pages):
    text = "\n".join(sample_pages)
    for chart in sample.charts:
        assert chart.title in text
        for value in chart.series[0].values:
            assert grouped(value) in text
