"""The report as JSON: every section of the content, amounts as strings of their exact digits
(a JSON number is a float to most readers), times in ISO 8601 UTC.

Written as it is made: the summary sections as one object, then each long list (the breaks,
corrections, exposures, comments and audit trail) an item at a time, so a report of a hundred
thousand breaks is never held as one document and one string besides the content.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO

from reports.content.types import ReportContent
from reports.renderers.common import exact, iso

FORMAT_VERSION = 1
LISTS = ("breaks", "corrections", "exposures", "comments", "audit")  # written item by item
BATCH = 2000  # items per write
_FIELDS: dict[type, tuple[str, ...]] = {}
_encode = json.JSONEncoder(ensure_ascii=False).encode


def plain(value):
    """The content as JSON values: dataclasses as objects, Decimals as exact strings."""
    if isinstance(value, Decimal):
        return exact(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value):
        names = _names(value)
        return {name: plain(getattr(value, name)) for name in names}
    return value  # str, int, bool, None


def _names(value) -> tuple[str, ...]:
    names = _FIELDS.get(type(value))
    if names is None:
        names = _FIELDS[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    return names


def _item(value) -> dict:
    """A list's item (a flat dataclass of text, numbers, times and tuples of text): `plain`
    without its recursion for the common field kinds."""
    found = {}
    for name in _names(value):
        field = getattr(value, name)
        kind = type(field)
        if kind is Decimal:
            found[name] = exact(field)
        elif kind is datetime:
            found[name] = iso(field)
        elif field is None or kind is str or kind is int or kind is bool:
            found[name] = field
        else:
            found[name] = plain(field)
    return found


def document(content: ReportContent, *, without: tuple[str, ...] = ()) -> dict:
    """The report as one JSON object (`without` those sections)."""
    found = {
        "format": "recondesk-report",
        "format_version": FORMAT_VERSION,
        "amounts": "strings holding the exact decimal digits",
    }
    for field in dataclasses.fields(content):
        if field.name not in without:
            found[field.name] = plain(getattr(content, field.name))
    return found


def render(content: ReportContent, out: BinaryIO) -> None:
    head = json.dumps(document(content, without=LISTS), ensure_ascii=False, indent=1)
    out.write(head[: head.rindex("}")].rstrip().encode("utf-8"))  # the object left open
    for name in LISTS:
        out.write(f',\n "{name}": ['.encode())
        items = getattr(content, name)
        for start in range(0, len(items), BATCH):
            lines = (_encode(_item(item)) for item in items[start : start + BATCH])
            lead = "\n  " if start == 0 else ",\n  "
            out.write((lead + ",\n  ".join(lines)).encode("utf-8"))
        out.write(b"\n ]" if items else b"]")
    out.write(b"\n}\n")
