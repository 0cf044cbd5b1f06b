"""The HTML report read back with the standard library's HTML parser: no external request of
any kind, every amount shown with its exact digits, hostile user text as plain text, the long
lists cut where they must be, one chart per chart description, and an empty scope that says so."""

from __future__ import annotations

import io
from dataclasses import replace
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from defusedxml import ElementTree

from reports.content import types as t
from reports.renderers.common import exact, grouped, stamp
from reports.renderers.html import HTML_BREAK_LIMIT, render
from tests.reports.sample import HOSTILE, TINY, WIDE, empty_content, sample_content

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip
SCRIPT = "<script>alert(1)</script>"
BREAK_AMOUNTS = ("internal_value", "external_value", "difference", "value_rc")
CORRECTION_AMOUNTS = ("original_value", "corrected_value", "delta", "impact_rc")


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None]):
        self.tag, self.attrs, self.children = tag, attrs, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find(self, **attrs) -> list[Node]:
        return [n for n in self.iter() if all(n.attrs.get(k) == v for k, v in attrs.items())]


class Tree(HTMLParser):
    """The page as a tree of elements, as a browser's parser would see its tags."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.raw_tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.raw_tags.append(tag)
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.raw_tags.append(tag)
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def page(content: t.ReportContent, **options) -> tuple[Node, str]:
    out = io.BytesIO()
    render(content, out, **options)
    markup = out.getvalue().decode("utf-8")
    tree = Tree()
    tree.feed(markup)
    tree.close()
    return tree.root, markup


@pytest.fixture(scope="module")
def sample():
    content = sample_content()
    root, markup = page(content)
    return content, root, markup


def section(root: Node, ident: str) -> Node:
    (found,) = root.find(id=ident)
    return found


def test_the_page_is_utf8_html_with_nothing_to_fetch(sample):
    _content, root, markup = sample
    assert markup.lower().startswith("<!doctype html>")
    tags = {n.tag for n in root.iter()}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "frame", "base"}
    references = [
        (n.tag, name, value)
        for n in root.iter()
        for name, value in n.attrs.items()
        if name in {"src", "href", "srcset", "action", "poster", "data", "xlink:href", "background"}
    ]
    assert references, "the table of contents links to its sections"
    assert all(value and value.startswith("#") for _tag, _name, value in references), references
    anchors = {n.attrs.get("id") for n in root.iter()}
    assert all(value[1:] in anchors for _tag, _name, value in references)
    (style,) = [n for n in root.iter() if n.tag == "style"]
    css = style.text().lower()
    assert "url(" not in css and "@import" not in css and "@font-face" not in css
    assert "@media print" in css
    assert not [n for n in root.iter() if "style" in n.attrs and "url(" in n.attrs["style"]]


def test_every_break_amount_is_shown_grouped_with_its_exact_digits(sample):
    content, root, _markup = sample
    rows = {int(n.attrs["data-break"]): n for n in root.iter() if "data-break" in n.attrs}
    assert list(rows) == [b.id for b in content.breaks]
    for line in content.breaks:
        for field in BREAK_AMOUNTS:
            (cell,) = rows[line.id].find(**{"data-field": field})
            value = getattr(line, field)
            assert cell.attrs["data-exact"] == exact(value), (line.id, field)
            assert cell.text() == grouped(value), (line.id, field)
    tiny, wide = rows[1000], rows[1001]
    assert tiny.find(**{"data-field": "difference"})[0].attrs["data-exact"] == str(TINY)
    assert wide.find(**{"data-field": "difference"})[0].text() == grouped(WIDE)
    assert grouped(WIDE) == "123,456,789,012.123456789012345678"


def test_every_correction_amount_is_shown_grouped_with_its_exact_digits(sample):
    content, root, _markup = sample
    rows = {int(n.attrs["data-correction"]): n for n in root.iter() if "data-correction" in n.attrs}
    assert list(rows) == [c.id for c in content.corrections]
    for line in content.corrections:
        for field in CORRECTION_AMOUNTS:
            (cell,) = rows[line.id].find(**{"data-field": field})
            assert cell.attrs["data-exact"] == exact(getattr(line, field))
            assert cell.text() == grouped(getattr(line, field))
    first = rows[content.corrections[0].id]
    assert first.find(**{"data-field": "original_value"})[0].attrs["data-exact"] == str(TINY)


def test_summary_tallies_and_exposures_carry_the_contents_exact_figures(sample):
    content, root, _markup = sample
    figures = section(root, "summary")
    for figure in content.summary.key_figures:
        (card,) = figures.find(**{"data-figure": figure.key})
        (value,) = [n for n in card.iter() if "data-exact" in n.attrs]
        assert (value.attrs["data-exact"], value.text()) == (exact(figure.value),
                                                             grouped(figure.value))  # fmt: skip
        assert figure.definition in card.text()
    exact_texts = {n.attrs["data-exact"] for n in section(root, "breakdown").iter()
                   if "data-exact" in n.attrs}  # fmt: skip
    tallies = content.by_severity + content.by_type + content.by_source + content.by_asset
    assert {exact(x.value_rc) for x in tallies} <= exact_texts
    (total,) = [n for n in section(root, "value-at-risk").iter()
                if n.attrs.get("data-exact") == exact(content.value_at_risk)][:1]  # fmt: skip
    assert total.text() == grouped(content.value_at_risk)
    for exposure in content.exposures:
        (row,) = root.find(**{"data-exposure": exposure.asset})
        assert ("stale" in row.text()) == exposure.stale
        if exposure.price is None:
            assert "no price known" in row.text()
        else:
            assert grouped(exposure.price) in row.text()
            assert stamp(exposure.price_as_of) in row.text()


def test_performance_figures_show_value_definition_and_note(sample):
    content, root, _markup = sample
    for figure in content.performance:
        (row,) = section(root, "performance").find(**{"data-figure": figure.key})
        assert figure.definition in row.text() and figure.note in row.text()
        if figure.value is None:
            assert "not defined" in row.text()
        else:
            assert [n.attrs["data-exact"] for n in row.iter() if "data-exact" in n.attrs] == [
                exact(figure.value)
            ]


def test_the_header_names_scope_time_author_currency_rules_and_chain_head(sample):
    content, root, _markup = sample
    header = section(root, "top").text()
    for text in (
        content.title,
        content.scope.description,
        stamp(content.generated_at),
        content.generated_by,
        content.reporting_currency,
        *content.rule_set_versions,
    ):
        assert text in header  # fmt: skip
    (sequence,) = root.find(**{"data-field": "chain-sequence"})
    (chain,) = root.find(**{"data-field": "chain-hash"})
    assert (sequence.text(), chain.text()) == (str(content.chain_head.sequence),
                                               content.chain_head.hash)  # fmt: skip
    assert chain.tag == "code"


def test_flags_name_their_figure_value_and_threshold(sample):
    content, root, _markup = sample
    for flag in content.regulatory_flags + content.recommendations:
        (row,) = section(root, "flags").find(**{"data-flag": flag.code})
        cells = [n.text() for n in row.iter() if n.tag == "td"]
        assert [flag.figure, flag.value, flag.threshold] == cells[2:]
        assert flag.text in cells[1]


def test_hostile_text_comes_out_as_the_text_its_author_wrote(sample):
    content, root, markup = sample
    assert "script" not in {n.tag for n in root.iter()}
    assert "<script" not in markup.lower()
    texts = [n.text() for n in root.iter()]
    for hostile in (*HOSTILE, "=cmd|' /C calc'!A0"):
        assert hostile in texts, repr(hostile)
    comments = {int(n.attrs["data-break"]): n.find(**{"data-field": "comment"})[0].text()
                for n in root.iter() if "data-break" in n.attrs}  # fmt: skip
    assert comments == {b.id: b.comment for b in content.breaks}
    reasons = [n.find(**{"data-field": "reason"})[0].text()
               for n in root.iter() if "data-correction" in n.attrs]  # fmt: skip
    assert reasons == [c.reason for c in content.corrections]


def test_hostile_text_in_product_strings_and_charts_is_escaped_too():
    content = sample_content(8, 2)
    content = replace(
        content,
        title=SCRIPT,
        scope=replace(content.scope, description=SCRIPT),
        generated_by='"><img src=http://x/y.png>',
        charts=(replace(content.charts[1], title=SCRIPT, categories=(SCRIPT,) * 10),),
    )
    root, _markup = page(content)
    tags = {n.tag for n in root.iter()}
    assert "script" not in tags and "img" not in tags
    assert [n.text() for n in root.iter() if n.tag == "h1"] == [SCRIPT]
    assert '"><img src=http://x/y.png>' in section(root, "top").text()
    (figure,) = root.find(**{"data-chart": "by_asset"})
    assert SCRIPT in [n.text() for n in figure.iter() if n.tag == "text"]


def test_charts_are_inline_svg_one_per_description_one_bar_per_category(sample):
    content, root, markup = sample
    figures = [n for n in root.iter() if n.attrs.get("data-chart")]
    assert [f.attrs["data-chart"] for f in figures] == [c.key for c in content.charts]
    for figure, chart in zip(figures, content.charts, strict=True):
        marks = [n for n in figure.iter() if n.attrs.get("class") in {"bar", "slice"}]
        assert len(marks) == len(chart.categories) * (
            1 if chart.kind == "pie" else len(chart.series)
        )
    # Each chart's markup, cut out of the page, is well-formed XML on its own.
    for chunk in markup.split("<svg ")[1:]:
        ElementTree.fromstring("<svg " + chunk.split("</svg>")[0] + "</svg>")


def test_only_the_first_breaks_are_listed_past_the_limit_with_a_line_saying_so():
    content = sample_content(40, 12)
    root, _markup = page(content, limit=5)
    rows = [int(n.attrs["data-break"]) for n in root.iter() if "data-break" in n.attrs]
    assert rows == [b.id for b in content.breaks[:5]]
    (line,) = [n for n in section(root, "breaks").iter() if n.attrs.get("data-count")]
    assert line.attrs["data-count"] == "40"
    assert (
        "first 5" in line.text() and "The full list is in the Excel and CSV files." in line.text()
    )
    corrections = [n for n in root.iter() if "data-correction" in n.attrs]
    assert [int(n.attrs["data-correction"]) for n in corrections] == [
        c.id for c in content.corrections[:5]
    ]
    (line,) = [n for n in section(root, "corrections").iter() if n.attrs.get("data-count")]
    assert line.attrs["data-count"] == "12" and "Excel and CSV" in line.text()


def test_under_the_limit_every_break_is_listed_and_the_line_says_all():
    content = sample_content(12, 3)
    root, _markup = page(content, limit=12)
    assert len([n for n in root.iter() if "data-break" in n.attrs]) == 12
    (line,) = [n for n in section(root, "breaks").iter() if n.attrs.get("data-count")]
    assert "all shown" in line.text() and "Excel" not in line.text()


def test_the_default_limit_is_a_thousand_breaks():
    assert HTML_BREAK_LIMIT == 1000
    content = sample_content(HTML_BREAK_LIMIT + 1, 0)
    root, _markup = page(content)
    assert len([n for n in root.iter() if "data-break" in n.attrs]) == HTML_BREAK_LIMIT
    (line,) = [n for n in section(root, "breaks").iter() if n.attrs.get("data-count")]
    assert line.attrs["data-count"] == "1,001"


def test_an_empty_scope_renders_a_page_that_says_there_is_nothing():
    content = empty_content()
    root, _markup = page(content)
    text = root.text()
    assert "No runs in this scope." in text
    assert "No breaks in this scope." in text
    assert "No corrections in this scope." in text
    assert "No charts: there are no breaks in this scope." in text
    assert content.summary.regulatory_status in text
    assert not [n for n in root.iter() if "data-break" in n.attrs]
    assert not [n for n in section(root, "charts").iter() if n.tag == "svg"]
    (total,) = [n for n in section(root, "value-at-risk").iter() if "data-exact" in n.attrs]
    assert total.attrs["data-exact"] == exact(content.value_at_risk) == "0"


def test_an_amount_that_is_missing_shows_no_digits():
    content = sample_content(3, 1)
    line = replace(content.breaks[0], internal_value=None, value_rc=None)
    root, _markup = page(replace(content, breaks=(line, *content.breaks[1:])))
    (row,) = root.find(**{"data-break": str(line.id)})
    for field in ("internal_value", "value_rc"):
        (cell,) = row.find(**{"data-field": field})
        assert cell.attrs["data-exact"] == "" and cell.text() == ""
    (cell,) = row.find(**{"data-field": "difference"})
    assert cell.attrs["data-exact"] == exact(line.difference)


def test_a_negative_amount_keeps_its_sign_and_its_last_digit():
    content = sample_content(2, 1)
    delta = Decimal("-98765432109876.000000000000000001")  # 33 digits: no unary minus, which rounds
    corrections = (replace(content.corrections[0], delta=delta),)
    root, _markup = page(replace(content, corrections=corrections))
    (cell,) = root.find(**{"data-field": "delta"})
    assert cell.attrs["data-exact"] == "-98765432109876.000000000000000001"
    assert cell.text() == "-98,765,432,109,876.000000000000000001"
