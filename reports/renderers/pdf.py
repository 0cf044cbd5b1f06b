"""The report as a PDF (reportlab platypus): A4, a portrait cover, executive summary, charts and
analysis, then the long lists (breaks, corrections, comments, audit lines) on landscape pages.

Only lays out `ReportContent`: every figure is the content's, shown with `grouped()`. The same
content gives the same bytes (invariant mode, the creation date taken from the content).
"""

from __future__ import annotations

from typing import BinaryIO

from reportlab.lib.units import mm
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Frame,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
)

from reports.content.types import ReportContent
from reports.renderers.common import grouped
from reports.renderers.pdf_charts import drawing
from reports.renderers.pdf_lists import (
    audit_table,
    break_table,
    comment_table,
    correction_table,
    limit_note,
)
from reports.renderers.pdf_pages import COVER_BAND, Furniture, canvas_maker, cover, summary
from reports.renderers.pdf_style import (
    BOLD,
    H1,
    H2,
    LANDSCAPE,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    NAVY,
    NOTE,
    PORTRAIT,
    SMALL,
    clean,
    para,
    paragraph_style,
)
from reports.renderers.pdf_tables import (
    by_hour_table,
    exposure_table,
    flag_table,
    pattern_facts,
    performance_table,
    recurring_table,
    run_table,
    tally_grid,
    tally_table,
)

PDF_BREAK_LIMIT = 1000  # the top breaks shown; the full list is in the Excel and CSV files
PDF_LIST_LIMIT = 1000  # the same cut for the other long lists (corrections, comments, audit)
CHART_HEIGHT = 215
BIG_FIGURE = paragraph_style(
    "big_figure", fontName=BOLD, fontSize=16, leading=20, textColor=NAVY, splitLongWords=1
)


class _ReportDocument(BaseDocTemplate):
    """Each section heading becomes a bookmark, so a reader jumps to the breaks or the audit
    trail of a long report from the viewer's outline."""

    def afterFlowable(self, flowable) -> None:
        if isinstance(flowable, Paragraph) and flowable.style is H1:
            key = f"section-{self.page}-{flowable.getPlainText()[:40]}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(flowable.getPlainText(), key, level=0)


def render(content: ReportContent, out: BinaryIO) -> None:
    """Write the report as a PDF to `out`."""
    furniture = Furniture(content)
    doc = _ReportDocument(
        out,
        pagesize=PORTRAIT,
        invariant=1,
        title=clean(content.title),
        author=clean(content.generated_by),
        subject=clean(content.scope.description),
        creator="Recondesk",
        lang="en",
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
    )
    doc.addPageTemplates(
        [
            _template("cover", PORTRAIT, COVER_BAND + 16 * mm),
            _template("portrait", PORTRAIT, MARGIN_TOP),
            _template("landscape", LANDSCAPE, MARGIN_TOP),
        ]
    )
    doc.build(_story(content), canvasmaker=canvas_maker(furniture))


def _template(name: str, size: tuple[float, float], top: float) -> PageTemplate:
    width, height = size
    frame = Frame(
        MARGIN_X,
        MARGIN_BOTTOM,
        width - 2 * MARGIN_X,
        height - top - MARGIN_BOTTOM,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
        id=name,
    )
    return PageTemplate(id=name, frames=[frame], pagesize=size)


def _width(size: tuple[float, float]) -> float:
    return size[0] - 2 * MARGIN_X


def _section(title: str, space: float = 120) -> list:
    """A section heading, moved to the next page rather than left alone at a page's foot."""
    return [CondPageBreak(space), para(title, H1)]


def _story(content: ReportContent) -> list:
    wide = _width(PORTRAIT)
    story = [NextPageTemplate("portrait"), *cover(content, wide), PageBreak()]
    story += [para("Executive summary", H1), *summary(content, wide)]
    story += [PageBreak(), *_charts(content, wide), *_analysis(content, wide)]
    story += [NextPageTemplate("landscape"), PageBreak(), *_lists(content, _width(LANDSCAPE))]
    return story


def _charts(content: ReportContent, width: float) -> list:
    story = _section("Charts")
    if not content.charts:
        return [*story, para("No charts: there is nothing to draw for this scope.", SMALL)]
    for chart in content.charts:
        story += [
            CondPageBreak(CHART_HEIGHT + 10),
            drawing(chart, width, CHART_HEIGHT),
            Spacer(1, 8 * mm),
        ]
    return story


def _analysis(content: ReportContent, width: float) -> list:
    currency = content.reporting_currency
    story = _section("Breaks by severity, type, source and asset")
    if not (content.by_severity or content.by_type or content.by_source or content.by_asset):
        story.append(para("There are no breaks in this scope.", SMALL))
    else:
        story += tally_grid(
            [
                ("Severity", content.by_severity),
                ("Type", content.by_type),
                ("Source", content.by_source),
            ],
            currency,
            width,
        )
        if content.by_asset:
            assets = content.by_asset[:PDF_LIST_LIMIT]
            story += [
                para("By asset, most value first", H2),
                limit_note(len(assets), len(content.by_asset), "assets", "most value first"),
                tally_table("Asset", assets, currency, width * 0.75),
            ]
    story += _section("Value at risk and exposures")
    story += [
        para(f"Total value at risk ({currency})", H2),
        para(f"{grouped(content.value_at_risk)} {currency}", BIG_FIGURE),
    ]
    if content.exposures:
        shown = content.exposures[:PDF_LIST_LIMIT]
        story += [
            Spacer(1, 3 * mm),
            limit_note(len(shown), len(content.exposures), "exposures", "most value first"),
            exposure_table(shown, currency, width),
            para("STALE: the price is older than the rule set version's staleness limit.", NOTE),
        ]
    else:
        story.append(para("No open break carries a value at risk in this scope.", SMALL))
    story += _patterns(content, width)
    story += _section("Performance")
    if content.performance:
        story.append(performance_table(content.performance, width))
    else:
        story.append(para("No performance figures for this scope.", SMALL))
    story += _section("Recommendations and regulatory flags")
    for title, flags, none in (
        ("Recommendations", content.recommendations, "No recommendation."),
        ("Regulatory flags", content.regulatory_flags, "No regulatory flag raised."),
    ):
        story.append(para(title, H2))
        story.append(flag_table(flags, width, title[:-1]) if flags else para(none, SMALL))
    story += _section("Scope and runs")
    story += [para(content.scope.description), Spacer(1, 2 * mm)]
    runs = content.scope.runs[:PDF_LIST_LIMIT]
    if runs:
        story += [
            limit_note(len(runs), len(content.scope.runs), "runs"),
            run_table(runs, width),
        ]
    else:
        story.append(para("No runs in this scope.", SMALL))
    return story


def _patterns(content: ReportContent, width: float) -> list:
    patterns = content.patterns
    story = [*_section("Patterns"), pattern_facts(patterns, content.reporting_currency, width)]
    story += [para("Breaks by the hour they were first seen (UTC)", H2)]
    if len(patterns.by_hour) == 24 and any(patterns.by_hour):
        story.append(by_hour_table(patterns.by_hour, width))
    else:
        story.append(para("No breaks first seen in this scope.", SMALL))
    story.append(para("Recurring breaks (seen by more than one run), most sightings first", H2))
    if patterns.recurring:
        story.append(recurring_table(patterns, width))
    else:
        story.append(para("No break was seen by more than one run.", SMALL))
    return story


def _lists(content: ReportContent, width: float) -> list:
    currency = content.reporting_currency
    story = [para("Breaks", H1)]
    if content.breaks:
        shown = content.breaks[:PDF_BREAK_LIMIT]
        order = "the most severe, then the most value, first"
        story += [
            limit_note(len(shown), len(content.breaks), "breaks", order),
            Spacer(1, 2 * mm),
            break_table(shown, currency, width),
        ]
    else:
        story.append(para("There are no breaks in this scope.", SMALL))
    for title, lines, table, none, order in (
        (
            "Corrections",
            content.corrections,
            lambda rows: correction_table(rows, currency, width),
            "No corrections in this scope.",
            "",
        ),
        (
            "Comments",
            content.comments,
            lambda rows: comment_table(rows, width),
            "No comments in this scope.",
            "",
        ),
        (
            "Audit trail",
            content.audit,
            lambda rows: audit_table(rows, width),
            "No audit lines in this scope.",
            "the most recent lines",
        ),
    ):
        story += _section(title)
        if lines:
            shown = lines[:PDF_LIST_LIMIT]
            what = "audit lines" if title == "Audit trail" else title.lower()
            story += [
                limit_note(len(shown), len(lines), what, order),
                Spacer(1, 2 * mm),
                table(shown),
            ]
        else:
            story.append(para(none, SMALL))
    return story


__all__ = ["PDF_BREAK_LIMIT", "PDF_LIST_LIMIT", "render"]
