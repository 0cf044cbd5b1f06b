"""The report as JSON: every section of the content, amounts as strings of their exact digits
(a JSON number is a float to most readers), times in ISO 8601 UTC."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO

from reports.content.types import ReportContent
from reports.renderers.common import exact, iso

FORMAT_VERSION = 1
_FIELDS: dict[type, tuple[str, ...]] = {}


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
        names = _FIELDS.get(type(value))
        if names is None:
            names = _FIELDS[type(value)] = tuple(f.name for f in dataclasses.fields(value))
        return {name: plain(getattr(value, name)) for name in names}
    return value  # str, int, bool, None


def document(content: ReportContent) -> dict:
    return {
        "format": "recondesk-report",
        "format_version": FORMAT_VERSION,
        "amounts": "strings holding the exact decimal digits",
        **plain(content),
    }


def render(content: ReportContent, out: BinaryIO) -> None:
    text = json.dumps(document(content), ensure_ascii=False, indent=1)
    out.write(text.encode("utf-8"))
