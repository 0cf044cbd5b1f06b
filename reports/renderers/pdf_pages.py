"""The PDF report's cover, executive summary, and what every page carries: the header, and the
footer with "Page X of Y", the generated-at time, the rule set version and the chain head."""

from __future__ import annotations

from datetime import UTC
from xml.sax.saxutils import escape

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, Spacer, Table

from reports.content.types import Figure, ReportContent, Scope, Summary
from reports.renderers.common import grouped, stamp
from reports.renderers.pdf_style import (
    BODY,
    BOLD,
    COVER_SCOPE,
    COVER_TITLE,
    FONT,
    GREY,
    H2,
    INK,
    LABEL,
    LEVEL,
    LIGHT,
    MARGIN_BOTTOM,
    MARGIN_X,
    MONO_TEXT,
    NAVY,
    PANEL,
    RULE,
    SMALL,
    WHITE,
    clean,
    cut,
    markup,
    para,
    paragraph_style,
)
from reports.renderers.pdf_tables import flag_table

COVER_BAND = 34 * mm
WHAT_THIS_IS = (
    "This report lays out the reconciliation of the books against the external sources for the "
    "scope above: the breaks found, their value at risk in the reporting currency, the "
    "corrections made and who approved them, and the audit chain head at generation, so that "
    "a reader can check it against the audit log. Every figure was computed once, when the "
    "report was generated, and is defined where it is shown. Amounts are exact to the last "
    "digit. Long lists are cut here; the Excel and CSV files of the same report hold them in full."
)


def short_hash(text: str) -> str:
    return text if len(text) <= 16 else f"{text[:10]}…{text[-4:]}"


def scope_line(scope: Scope) -> str:
    if scope.kind == "run" and scope.run_id is not None:
        return f"Run {scope.run_id}"
    if scope.period_from and scope.period_to:
        return (
            f"Period {scope.period_from.isoformat()} to {scope.period_to.isoformat()} (inclusive)"
        )
    return scope.kind.capitalize()


def filters_line(scope: Scope) -> str:
    chosen = [f"{name}: {value}" for name, value in scope.filters.items() if value]
    return " · ".join(chosen) if chosen else "None: every source, type, account and severity"


def chain_line(content: ReportContent) -> str:
    head = content.chain_head
    return "empty audit log" if head.sequence == 0 else f"#{head.sequence} {short_hash(head.hash)}"


class Furniture:
    """The running header and footer, drawn once the page count is known."""

    def __init__(self, content: ReportContent):
        moment = content.generated_at.astimezone(UTC)
        self.pdf_date = moment.strftime("D:%Y%m%d%H%M%S+00'00'")
        self.title = clean(content.title)
        self.currency = content.reporting_currency
        rule_sets = ", ".join(content.rule_set_versions) or "none"
        label = "Rule set" if len(content.rule_set_versions) < 2 else "Rule sets"
        self.footer = (
            f"Generated {stamp(content.generated_at)}   ·   {label} {rule_sets}   ·   "
            f"Audit chain head {chain_line(content)}"
        )

    def draw(self, canvas: Canvas, number: int, total: int) -> None:
        width, height = canvas._pagesize
        canvas.saveState()
        if number == 1:
            self._band(canvas, width, height)
        else:
            self._header(canvas, width, height)
        page = f"Page {number} of {total}"
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN_X, MARGIN_BOTTOM - 5 * mm, width - MARGIN_X, MARGIN_BOTTOM - 5 * mm)
        canvas.setFont(FONT, 7)
        canvas.setFillColor(GREY)
        room = width - 2 * MARGIN_X - stringWidth(page, BOLD, 7.5) - 12 * mm
        canvas.drawString(MARGIN_X, MARGIN_BOTTOM - 9 * mm, _fit(self.footer, FONT, 7, room))
        canvas.setFont(BOLD, 7.5)
        canvas.setFillColor(INK)
        canvas.drawRightString(width - MARGIN_X, MARGIN_BOTTOM - 9 * mm, page)
        canvas.restoreState()

    def _header(self, canvas: Canvas, width: float, height: float) -> None:
        y = height - 12 * mm
        canvas.setFont(BOLD, 7.5)
        canvas.setFillColor(NAVY)
        canvas.drawString(MARGIN_X, y, "RECONDESK")
        right = f"Reporting currency {self.currency}"
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(GREY)
        canvas.drawRightString(width - MARGIN_X, y, right)
        left = MARGIN_X + stringWidth("RECONDESK", BOLD, 7.5) + 8
        room = width - MARGIN_X - stringWidth(right, FONT, 7.5) - 16 - left
        canvas.drawString(left, y, _fit(self.title, FONT, 7.5, room))
        canvas.setStrokeColor(NAVY)
        canvas.setLineWidth(0.8)
        canvas.line(MARGIN_X, y - 2.5 * mm, width - MARGIN_X, y - 2.5 * mm)

    def _band(self, canvas: Canvas, width: float, height: float) -> None:
        canvas.setFillColor(NAVY)
        canvas.rect(0, height - COVER_BAND, width, COVER_BAND, stroke=0, fill=1)
        canvas.setFillColor(WHITE)
        canvas.setFont(BOLD, 15)
        canvas.drawString(MARGIN_X, height - 17 * mm, "RECONDESK")
        canvas.setFont(FONT, 9)
        canvas.setFillColor(RULE)
        canvas.drawString(MARGIN_X, height - 23 * mm, "Reconciliation report")


def _fit(text: str, font: str, size: float, room: float) -> str:
    if stringWidth(text, font, size) <= room:
        return text
    while text and stringWidth(text + "…", font, size) > room:
        text = text[:-1]
    return text + "…"


def canvas_maker(furniture: Furniture) -> type[Canvas]:
    """A canvas that keeps its pages until the end, so each footer can say "of Y"; its creation
    date is the report's generation time, so the same content gives the same bytes."""

    class ReportCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []
            self._marks: list[tuple[str, dict]] = []
            self.setDateFormatter(lambda *ignored: furniture.pdf_date)

        def bookmarkPage(self, key, **kwargs):
            # Pages reach the document only in save(): a bookmark made now would point at
            # the first page, so it waits with its page.
            self._marks.append((key, kwargs))

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._marks = []
            self._startPage()

        def save(self):
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                for key, kwargs in state["_marks"]:
                    Canvas.bookmarkPage(self, key, **kwargs)
                furniture.draw(self, number, total)
                Canvas.showPage(self)
            self.showOutline()
            Canvas.save(self)

    return ReportCanvas


def cover(content: ReportContent, width: float) -> list:
    head = content.chain_head
    if head.sequence == 0:
        chain = [para("Sequence 0: the audit log is empty.")]
    else:
        chain = [para(f"Sequence {head.sequence}"), Paragraph(escape(head.hash), MONO_TEXT)]
    versions = content.rule_set_versions or ("none",)
    rows = [
        ("Scope", para(scope_line(content.scope))),
        ("Filters", para(filters_line(content.scope))),
        ("Generated at", para(stamp(content.generated_at))),
        ("Generated by", para(content.generated_by)),
        ("Reporting currency", para(content.reporting_currency)),
        (
            "Rule set version" + ("s" if len(versions) > 1 else ""),
            [para(cut(v, 200)) for v in versions[:40]],
        ),
        ("Audit chain head", chain),
    ]
    label = 38 * mm
    facts = Table(
        [[para(k, LABEL), v] for k, v in rows], colWidths=[label, width - label], hAlign="LEFT"
    )
    facts.setStyle(
        [
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -2), 0.4, RULE),
            ("TOPPADDING", (0, 0), (-1, -1), 5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ]
    )
    about = Table(
        [[[para("What this report is", LABEL), Spacer(1, 2), para(WHAT_THIS_IS, SMALL)]]],
        colWidths=[width],
        hAlign="LEFT",
    )
    about.setStyle(
        [
            ("BACKGROUND", (0, 0), (-1, -1), PANEL),
            ("LINEBEFORE", (0, 0), (0, -1), 2.5, NAVY),
            ("LEFTPADDING", (0, 0), (-1, -1), 10),
            ("RIGHTPADDING", (0, 0), (-1, -1), 10),
            ("TOPPADDING", (0, 0), (-1, -1), 8),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 9),
        ]
    )
    return [
        para(cut(clean(content.title), 200), COVER_TITLE),
        para(cut(clean(content.scope.description), 400), COVER_SCOPE),
        Spacer(1, 12 * mm),
        facts,
        Spacer(1, 10 * mm),
        about,
    ]


LABEL_CARD = paragraph_style("card_label", fontName=BOLD, fontSize=7.5, leading=9.5, textColor=GREY)
DEFINITION = paragraph_style("card_definition", fontSize=7, leading=9, textColor=GREY)
CARD_NOTE = paragraph_style(
    "card_note", fontSize=7, leading=9, textColor=LIGHT, fontName="Helvetica-Oblique"
)


def _figure_text(figure: Figure) -> tuple[str, str]:
    """A figure's exact digits and the unit printed after them ("" for none)."""
    if figure.value is None:
        return "n/a", ""
    if figure.unit == "%":
        return grouped(figure.value) + "%", ""
    return grouped(figure.value), figure.unit


def _value_markup(number: str, unit: str, size: float) -> str:
    text = escape(number)
    if unit:
        text += (
            f'<font name="{FONT}" size="{size * 0.55:.1f}" color="#5B6675"> {escape(unit)}</font>'
        )
    return text


def _value_width(number: str, unit: str, size: float) -> float:
    return stringWidth(number, BOLD, size) + stringWidth(" " + unit, FONT, size * 0.55)


def key_figures(summary: Summary, width: float) -> list:
    """The key figures as cards (three to a row, two when a value is long): label, exact value,
    definition, note."""
    if not summary.key_figures:
        return [para("No key figures for this scope: there is nothing to measure.", BODY)]
    gap, pad = 4 * mm, 8
    texts = [_figure_text(f) for f in summary.key_figures]
    per_row = 3
    if any(_value_width(n, u, 13) > (width - 2 * gap) / 3 - 2 * pad for n, u in texts):
        per_row = 2
    card = (width - gap * (per_row - 1)) / per_row
    cells = []
    for figure, (number, unit) in zip(summary.key_figures, texts, strict=True):
        size = 17.0
        while size > 9 and _value_width(number, unit, size) > card - 2 * pad:
            size -= 0.5
        value = paragraph_style(
            "card_value",
            fontName=BOLD,
            fontSize=size,
            leading=size * 1.2,
            textColor=NAVY if figure.value is not None else LIGHT,
            splitLongWords=1,
        )
        parts = [
            para(figure.label, LABEL_CARD),
            Spacer(1, 3),
            markup(_value_markup(number, unit, size), value),
            Spacer(1, 3),
            para(cut(figure.definition, 300), DEFINITION),
        ]
        if figure.note:
            parts.append(para(cut(figure.note, 200), CARD_NOTE))
        cells.append(parts)
    widths = [card if i % 2 == 0 else gap for i in range(per_row * 2 - 1)]
    grids = []
    for start in range(0, len(cells), per_row):
        row = cells[start : start + per_row]
        interleaved = []
        for i, cell in enumerate(row + [""] * (per_row - len(row))):
            interleaved += [cell] if i == 0 else ["", cell]
        grid = Table([interleaved], colWidths=widths, hAlign="LEFT")
        commands = [
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 7),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 9),
            ("LEFTPADDING", (0, 0), (-1, -1), pad),
            ("RIGHTPADDING", (0, 0), (-1, -1), pad),
        ]
        for i in range(len(row)):
            commands += [
                ("BACKGROUND", (2 * i, 0), (2 * i, 0), PANEL),
                ("LINEABOVE", (2 * i, 0), (2 * i, 0), 2, NAVY),
            ]
        grid.setStyle(commands)
        grids += [grid, Spacer(1, gap)]
    return grids


def summary(content: ReportContent, width: float) -> list:
    s = content.summary
    story = key_figures(s, width)
    story.append(para("Critical issues", H2))
    if s.critical_issues:
        issues = Table(
            [[para(cut(text, 600))] for text in s.critical_issues], colWidths=[width], hAlign="LEFT"
        )
        issues.setStyle(
            [
                ("LINEBEFORE", (0, 0), (0, -1), 2.5, LEVEL["critical"]),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
        story.append(issues)
    else:
        story.append(para("No critical issue.", SMALL))
    story.append(para("Top recommendations", H2))
    if s.top_recommendations:
        story.append(flag_table(s.top_recommendations, width, "Recommendation"))
    else:
        story.append(para("No recommendation.", SMALL))
    story.append(para("Regulatory status", H2))
    raised = bool(content.regulatory_flags)
    status = Table(
        [[para(s.regulatory_status or "Not stated.", BODY)]], colWidths=[width], hAlign="LEFT"
    )
    status.setStyle(
        [
            ("BACKGROUND", (0, 0), (-1, -1), PANEL),
            ("LINEBEFORE", (0, 0), (0, -1), 2.5, LEVEL["critical"] if raised else NAVY),
            ("LEFTPADDING", (0, 0), (-1, -1), 8),
            ("TOPPADDING", (0, 0), (-1, -1), 5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
        ]
    )
    story.append(status)
    if raised:
        story.append(Spacer(1, 4))
        story.append(
            markup(
                escape(
                    "The flags and the thresholds that raised them are listed "
                    "under Recommendations and regulatory flags."
                ),
                SMALL,
            )
        )
    return story
