"""A run's trade matches as download rows: stored columns, plain decimals, ids as JSON."""

import json
from decimal import Decimal

from reconciliation.export import plain
from reconciliation.runs import match_store

MATCH_FIELDS = list(match_store.COLUMNS)  # as stored, in the same order


def match_row(match: dict) -> dict:
    """A trade match with plain decimals and its ids as JSON arrays (ids may hold any text)."""
    return {
        name: json.dumps(match[name], ensure_ascii=False) if name.endswith("_ids")
        else plain(match[name]) if isinstance(match[name], Decimal)
        else ("" if match[name] is None else match[name])
        for name in MATCH_FIELDS
    }  # fmt: skip
