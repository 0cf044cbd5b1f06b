"""What every renderer shares: the one text form of an amount and of a time (defined with
the content, reports/content/text.py, whose sentences use it too), and inert text."""

from __future__ import annotations

from reports.content.text import exact, grouped, iso, stamp

__all__ = ["FORMULA_STARTS", "exact", "grouped", "inert", "iso", "stamp"]

# A spreadsheet treats a cell starting with one of these as a formula (or, for tab and
# carriage return, as the start of one once pasted): OWASP's CSV injection list, plus NUL.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def inert(text: str) -> str:
    """User or product text made safe for a spreadsheet cell or a CSV field: a leading
    formula character gets a quote before it, which spreadsheets show as text. Amounts are
    never passed here (a negative number stays a number)."""
    if text and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text
