"""The PDF report's look: page sizes, palette, type styles, and the cell helpers that keep user
text literal (escaped) and inside its column.

Built-in fonts only (Helvetica for text, Courier for hashes): nothing to embed, nothing to find on
the machine, and the same bytes everywhere.
"""

from __future__ import annotations

import unicodedata
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph, TableStyle

from reports.renderers.common import stamp

PORTRAIT = A4
LANDSCAPE = landscape(A4)
MARGIN_X = 16 * mm
MARGIN_TOP = 20 * mm  # room for the running header
MARGIN_BOTTOM = 17 * mm  # room for the footer

FONT = "Helvetica"
BOLD = "Helvetica-Bold"
ITALIC = "Helvetica-Oblique"
MONO = "Courier"

NAVY = colors.HexColor("#1F3A5F")
INK = colors.HexColor("#1E2630")
GREY = colors.HexColor("#5B6675")
LIGHT = colors.HexColor("#8A94A3")
RULE = colors.HexColor("#C9D1DB")
ZEBRA = colors.HexColor("#F2F4F7")
PANEL = colors.HexColor("#F6F8FA")
WHITE = colors.white

SEVERITY = {
    "critical": colors.HexColor("#A4262C"),
    "high": colors.HexColor("#D0782A"),
    "medium": colors.HexColor("#C9A227"),
    "low": colors.HexColor("#5B8DB8"),
}
LEVEL = {
    "critical": SEVERITY["critical"],
    "warning": SEVERITY["high"],
    "info": colors.HexColor("#5B8DB8"),
}
# Chart series and slices: muted, told apart in greyscale print too.
SERIES = tuple(
    colors.HexColor(code)
    for code in ("#1F3A5F", "#5B8DB8", "#A9BCD0", "#C8B88A", "#6B7B8C", "#8FA98F", "#B7898B")
)

CELL_SIZE = 7
CELL_LEADING = 8.4
CELL_PAD = 3

# A table cell holds at most this much user text: a row taller than a page cannot be laid out,
# and the full text is in the Excel and CSV files.
CELL_TEXT_LIMIT = 300


def paragraph_style(name: str, **kw) -> ParagraphStyle:
    base = {"fontName": FONT, "fontSize": 9, "leading": 12, "textColor": INK}
    return ParagraphStyle(name, **{**base, **kw})


BODY = paragraph_style("body")
SMALL = paragraph_style("small", fontSize=8, leading=10.5, textColor=GREY)
NOTE = paragraph_style(
    "note", fontSize=8, leading=10.5, textColor=GREY, fontName=ITALIC, spaceBefore=3
)
H1 = paragraph_style(
    "h1", fontName=BOLD, fontSize=15, leading=19, textColor=NAVY, spaceBefore=16, spaceAfter=4
)
H2 = paragraph_style("h2", fontName=BOLD, fontSize=10.5, leading=14, textColor=NAVY, spaceBefore=10)
COVER_TITLE = paragraph_style("cover_title", fontName=BOLD, fontSize=24, leading=30, textColor=NAVY)
COVER_SCOPE = paragraph_style("cover_scope", fontSize=12, leading=16, textColor=INK, spaceBefore=6)
LABEL = paragraph_style("label", fontName=BOLD, fontSize=8, leading=10.5, textColor=GREY)
MONO_TEXT = paragraph_style("mono", fontName=MONO, fontSize=8, leading=10.5, splitLongWords=1)
CELL = paragraph_style("cell", fontSize=CELL_SIZE, leading=CELL_LEADING)
# The long lists (breaks, corrections) on landscape pages: a size smaller, to keep every digit
# of an 18-place amount on one line beside the rest of the row.
DENSE_SIZE = 6.5
DENSE_LEADING = 7.8
DENSE = paragraph_style("dense", fontSize=DENSE_SIZE, leading=DENSE_LEADING)


def clean(text: str) -> str:
    """User or product text as one line of print: whitespace runs (tabs, carriage returns, new
    lines) become one space and other control characters a space, so nothing invisible reaches
    the page; the visible characters stay as written."""
    if not text:
        return ""
    if text.isprintable():
        return text.strip()
    shown = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    return " ".join(shown.split())


def cut(text: str, limit: int) -> str:
    """The text, visibly shortened past `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def para(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    """User or product text as a paragraph: escaped, so markup in it shows as typed."""
    return Paragraph(escape(clean(text)), style)


def markup(trusted: str, style: ParagraphStyle = BODY) -> Paragraph:
    """A paragraph whose markup is this renderer's own; every user or product piece in it must
    already have gone through `escape`."""
    return Paragraph(trusted, style)


def text_cell(text: str, width: float, style: ParagraphStyle = CELL, limit: int = CELL_TEXT_LIMIT):
    """A table cell for user or product text: a plain string (drawn literally, fastest) when it
    fits the column on one line, else an escaped paragraph that wraps, long words split."""
    shown = cut(clean(text), limit)
    if stringWidth(shown, style.fontName, style.fontSize) <= width - 2 * CELL_PAD:
        return shown
    return Paragraph(escape(shown), style)


def fit_text(text: str, width: float, size: float = CELL_SIZE, font: str = FONT) -> str:
    """A short user or product name for a plain-string cell: one line, visibly cut to the
    column."""
    shown = clean(text)
    room = width - 2 * CELL_PAD
    if stringWidth(shown, font, size) <= room:
        return shown
    while shown and stringWidth(shown + "…", font, size) > room:
        shown = (
            shown[: max(len(shown) * 9 // 10, len(shown) - 8)] if len(shown) > 80 else shown[:-1]
        )
    return shown + "…"


def fit_lines(text: str, width: float, size: float = CELL_SIZE, font: str = FONT) -> str:
    """A plain-string cell that must show every character (an amount, a hash): broken into as
    many lines as the column needs instead of running into the next column."""
    room = width - 2 * CELL_PAD
    if stringWidth(text, font, size) <= room:
        return text
    lines, line = [], ""
    for char in text:
        if line and stringWidth(line + char, font, size) > room:
            lines.append(line)
            line = ""
        line += char
    return "\n".join([*lines, line])


def fit_amount(text: str, width: float, size: float = CELL_SIZE) -> str:
    """An amount cell: every digit, on one line when the column allows, else broken after the
    decimal point (or, if a part is still too wide, wherever the column ends)."""
    room = width - 2 * CELL_PAD
    if stringWidth(text, FONT, size) <= room:
        return text
    whole, point, fraction = text.partition(".")
    if (
        point
        and max(stringWidth(whole + point, FONT, size), stringWidth(fraction, FONT, size)) <= room
    ):
        return f"{whole}.\n{fraction}"
    return fit_lines(text, width, size)


def two_lines(moment) -> str:
    """A time as a narrow cell: the date above, the time (UTC) below."""
    text = stamp(moment)
    return text.replace(" ", "\n", 1) if text else ""


def table_style(
    header_rows: int = 1,
    right: tuple[int, ...] = (),
    zebra: bool = True,
    size: float = CELL_SIZE,
    leading: float = CELL_LEADING,
):
    """The house table: navy header, hairlines, zebra rows, amounts right-aligned."""
    commands = [
        ("FONT", (0, 0), (-1, -1), FONT, size, leading),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("FONT", (0, 0), (-1, header_rows - 1), BOLD, size, leading),
        ("TEXTCOLOR", (0, 0), (-1, header_rows - 1), WHITE),
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), NAVY),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("VALIGN", (0, 0), (-1, header_rows - 1), "BOTTOM"),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PAD),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LINEBELOW", (0, header_rows), (-1, -1), 0.25, RULE),
    ]
    if zebra:
        commands.append(("ROWBACKGROUNDS", (0, header_rows), (-1, -1), [WHITE, ZEBRA]))
    for column in right:
        commands.append(("ALIGN", (column, 0), (column, -1), "RIGHT"))
    return TableStyle(commands)
