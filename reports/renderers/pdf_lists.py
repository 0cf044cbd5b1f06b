"""The PDF report's long lists, on landscape pages: breaks, corrections, comments, audit lines.

Each shows at most its limit of rows, in the order the content gives, and says when there are
more: the full lists belong in the Excel and CSV files. Cells are plain strings (drawn literally
and fast) except user text that needs wrapping, which becomes an escaped paragraph.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph

from reports.content.types import AuditLine, BreakLine, CommentLine, CorrectionLine
from reports.renderers.common import exact, grouped, stamp
from reports.renderers.pdf_style import (
    CELL_PAD,
    DENSE,
    DENSE_LEADING,
    DENSE_SIZE,
    FONT,
    MONO,
    NOTE,
    SEVERITY,
    clean,
    cut,
    fit_amount,
    fit_lines,
    fit_text,
    markup,
    table_style,
    text_cell,
    two_lines,
)
from reports.renderers.pdf_tables import stripe, table

COMMENT_LIMIT = 160  # characters of a break's latest comment in the breaks table
REASON_LIMIT = 400
COMMENT_TEXT_LIMIT = 1200  # the comments table has the room for more


def limit_note(shown: int, total: int, what: str, order: str = "") -> Paragraph:
    """The line above a list: how many rows it shows of how many, and where the rest are."""
    order = f" ({order})" if order else ""
    if shown < total:
        text = (
            f"Showing the first {grouped(shown)} of {grouped(total)} {what}{order}. "
            "The full list is in the Excel and CSV files of this report."
        )
    elif total == 1:
        text = f"The one {what.removesuffix('s')} in the scope."
    else:
        text = f"All {grouped(total)} {what} in the scope{order}."
    return markup(escape(text), NOTE)


def _dense(right: tuple[int, ...]):
    return table_style(right=right, size=DENSE_SIZE, leading=DENSE_LEADING)


def _amount_widths(columns: list[list[str]], room: float) -> list[float]:
    """Each amount column as wide as its widest figure, together `room` at most: past it, the
    widest share one cap and their longest figures run onto a second line."""
    need = [
        max(stringWidth(t, FONT, DENSE_SIZE) for t in texts) + 2 * CELL_PAD + 4 for texts in columns
    ]
    rest = room
    for k, width in enumerate(sorted(need)):
        left = len(need) - k
        if width * left > rest:
            cap = rest / left
            return [min(w, cap) for w in need]
        rest -= width
    return need


def _two(first: str, second: str, width: float) -> str:
    return fit_text(first, width, DENSE_SIZE) + "\n" + fit_text(second, width, DENSE_SIZE)


def _amount(value, width: float) -> str:
    return fit_amount(grouped(value), width, DENSE_SIZE)


def break_table(breaks: tuple[BreakLine, ...], currency: str, width: float):
    fixed = [34, 40, 42, 42, 46, 46, 40]  # break, severity, type, source, asset, seen, times
    comment_min = 90
    texts = [
        [grouped(b.internal_value) for b in breaks] + [grouped(b.external_value) for b in breaks],
        [grouped(b.difference) for b in breaks],
        [grouped(b.value_rc) for b in breaks],
    ]
    for column, header in zip(texts, ("Internal", "Difference", f"({currency})"), strict=True):
        column.append(header)
    amounts = _amount_widths(texts, width - sum(fixed) - comment_min)
    comment = width - sum(fixed) - sum(amounts)
    widths = [*fixed[:5], *amounts, *fixed[5:], comment]
    rows = [
        [
            "Break\nrun",
            "Severity\nstatus",
            "Type\nfield",
            "Source\naccount",
            "Asset",
            "Internal\nexternal",
            "Difference",
            f"Value\n({currency})",
            "First seen",
            "Seen",
            "Latest comment",
        ]
    ]
    for b in breaks:
        asset = b.asset if b.entity in ("", b.asset) else f"{b.asset}\n{b.entity}"
        rows.append(
            [
                f"{b.id}\nrun {b.run_id}",
                _two(b.severity, b.status, widths[1]),
                _two(b.type, b.field, widths[2]),
                _two(b.source, b.account, widths[3]),
                "\n".join(fit_text(a, widths[4], DENSE_SIZE) for a in asset.split("\n")),
                _amount(b.internal_value, amounts[0])
                + "\n"
                + _amount(b.external_value, amounts[0]),
                _amount(b.difference, amounts[1]),
                _amount(b.value_rc, amounts[2]),
                two_lines(b.first_seen_at),
                _seen(b),
                text_cell(b.comment, comment, DENSE, COMMENT_LIMIT) if b.comment else "",
            ]
        )
    made = table(rows, widths, style=_dense(right=(0, 5, 6, 7)))
    stripe(made, [b.severity for b in breaks], SEVERITY, column=1)
    return made


def _seen(b: BreakLine) -> str:
    times = "once" if b.times_seen == 1 else f"{grouped(b.times_seen)} times"
    return f"{times}\nsince run {b.first_seen_run}"


def correction_table(corrections: tuple[CorrectionLine, ...], currency: str, width: float):
    fixed = [44, 54, 48, 60, 80, 52]  # correction, asset, status, created, approved, applied
    reason_min = 100
    texts = [
        [grouped(c.original_value) for c in corrections]
        + [grouped(c.corrected_value) for c in corrections]
        + ["Corrected"],
        [grouped(c.delta) for c in corrections] + ["Delta"],
        [grouped(c.impact_rc) for c in corrections] + [f"({currency})"],
    ]
    amounts = _amount_widths(texts, width - sum(fixed) - reason_min)
    reason = width - sum(fixed) - sum(amounts)
    widths = [*fixed[:2], *amounts, *fixed[2:], reason]
    rows = [
        [
            "Correction\nbreak",
            "Asset\nfield",
            "Original\ncorrected",
            "Delta",
            f"Impact\n({currency})",
            "Status\norigin",
            "Created",
            "Approved",
            "Applied or\nended",
            "Reason and policy",
        ]
    ]
    for c in corrections:
        target = c.asset if c.target in ("", c.asset) else f"{c.asset} → {c.target}"
        rows.append(
            [
                f"#{c.id}\nbreak {c.break_id}\nrun {c.run_id}",
                "\n".join(
                    fit_text(x, widths[1], DENSE_SIZE) for x in (target, c.field, c.operation)
                ),
                _amount(c.original_value, amounts[0])
                + "\n"
                + _amount(c.corrected_value, amounts[0]),
                _amount(c.delta, amounts[1]),
                _amount(c.impact_rc, amounts[2]),
                "\n".join(
                    fit_text(x, widths[5], DENSE_SIZE)
                    for x in (c.status, c.origin, "auto-approved" if c.automatic else "four-eyes")
                ),
                _lines([c.created_by, *two_lines(c.created_at).split("\n")], widths[6]),
                _lines(
                    [*_approvers(c, widths[7]), *two_lines(c.approved_at).split("\n")],
                    widths[7],
                ),
                _ended(c),
                _reason(c, reason),
            ]
        )
    return table(rows, widths, style=_dense(right=(2, 3, 4)))


def _approvers(c: CorrectionLine, width: float) -> list[str]:
    """The approvers on one line when they fit it, else one to a line."""
    names = [clean(name) for name in c.approvers]
    if not names:
        return ["none (automatic)" if c.automatic else "none yet"]
    joined = ", ".join(names)
    if stringWidth(joined, FONT, DENSE_SIZE) <= width - 2 * CELL_PAD:
        return [joined]
    return names


def _ended(c: CorrectionLine) -> str:
    """What became of an approved correction: applied, then perhaps rolled back or rejected."""
    lines = []
    for label, moment in (
        ("applied", c.applied_at),
        ("rolled back", c.rolled_back_at),
        ("rejected", c.rejected_at),
    ):
        if moment is not None:
            lines += [label, stamp(moment)[:10], stamp(moment)[11:]]
    return "\n".join(lines) or "not yet"


def _lines(lines: list[str], width: float):
    """Short lines in one cell: plain strings while each fits, else an escaped paragraph."""
    shown = [cut(clean(x), 120) for x in lines if x]
    room = width - 2 * CELL_PAD
    if all(stringWidth(x, FONT, DENSE_SIZE) <= room for x in shown):
        return "\n".join(shown)
    return Paragraph("<br/>".join(escape(x) for x in shown), DENSE)


def _reason(c: CorrectionLine, width: float):
    parts = [c.reason or "No reason given."]
    if c.rejection_reason:
        parts.append(f"Rejected: {c.rejection_reason}")
    if c.policy_note:
        parts.append(f"Policy: {c.policy_note}")
    if all(stringWidth(clean(p), FONT, DENSE_SIZE) <= width - 2 * CELL_PAD for p in parts):
        return "\n".join(clean(p) for p in parts)
    return Paragraph("<br/>".join(escape(cut(clean(p), REASON_LIMIT)) for p in parts), DENSE)


def comment_table(comments: tuple[CommentLine, ...], width: float):
    widths = [50, 90, 64, 0]
    widths[3] = width - sum(widths)
    rows = [["Break", "Author", "Written", "Comment"]]
    rows += [
        [
            exact(c.break_id),
            text_cell(c.author, widths[1], DENSE),
            two_lines(c.created_at),
            text_cell(c.text, widths[3], DENSE, COMMENT_TEXT_LIMIT),
        ]
        for c in comments
    ]
    return table(rows, widths, style=_dense(right=(0,)))


def audit_table(lines: tuple[AuditLine, ...], width: float):
    hash_width = stringWidth("0" * 64, MONO, DENSE_SIZE) + 2 * CELL_PAD + 2
    widths = [52, 64, 90, 0, 120, hash_width]
    widths[3] = width - sum(widths)
    rows = [["Sequence", "Time", "Actor", "Action", "Object", "Hash"]]
    rows += [
        [
            exact(a.sequence),
            two_lines(a.created_at),
            text_cell(a.actor, widths[2], DENSE),
            text_cell(a.action, widths[3], DENSE),
            text_cell(f"{a.object_type} {a.object_id}", widths[4], DENSE),
            fit_lines(a.hash, hash_width, DENSE_SIZE, MONO),
        ]
        for a in lines
    ]
    made = table(rows, widths, style=_dense(right=(0,)))
    made.setStyle([("FONT", (5, 1), (5, -1), MONO, DENSE_SIZE, DENSE_LEADING)])
    return made
