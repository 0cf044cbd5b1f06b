"""What every renderer shares: the one text form of an amount and of a time, and inert text.

One text form per amount: every format shows the same digits for the same amount (the JSON's
string, the CSV's field, the Excel sheet's exact-text column, the PDF's and HTML's cells).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

# A spreadsheet treats a cell starting with one of these as a formula (or, for tab and
# carriage return, as the start of one once pasted): OWASP's CSV injection list, plus NUL.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def exact(value: Decimal | int | None) -> str:
    """The exact digits of an amount, without exponent or trailing zeros ("" for none)."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def grouped(value: Decimal | int | None) -> str:
    """`exact`, its whole part in groups of three for reading (PDF and HTML tables)."""
    text = exact(value)
    if not text:
        return text
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, fraction = text.partition(".")
    whole = f"{int(whole):,}"
    return sign + whole + ("." + fraction if fraction else "")


def stamp(moment: datetime | None) -> str:
    """A time as a reader sees it: "2026-12-07 22:41:41 UTC" ("" for none)."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(moment: datetime | None) -> str | None:
    """A time for machines: ISO 8601 in UTC (None for none)."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


def inert(text: str) -> str:
    """User or product text made safe for a spreadsheet cell or a CSV field: a leading
    formula character gets a quote before it, which spreadsheets show as text. Amounts are
    never passed here (a negative number stays a number)."""
    if text and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text
