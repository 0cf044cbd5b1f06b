"""The one text form of an amount and of a time: every format, and the content's own
sentences (a flag's text), show the same digits for the same amount (the JSON's string, the
CSV's field, the Excel sheet's exact-text column, the PDF's and HTML's cells)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal


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
