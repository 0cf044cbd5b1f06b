"""Breaks as CSV or JSON rows (command, page and API exports share this)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from reconciliation.breaks import evidence as break_evidence
from reconciliation.export import plain, write_csv_rows, write_json_rows
from reconciliation.models import Break, BreakObservation, Run

FIELDS = [
    "break_id", "type", "account", "asset", "entity", "field", "internal_value",
    "external_value", "difference", "difference_pct", "value_rc", "severity", "causes",
    "status", "first_seen_at", "last_seen_at", "times_seen", "book_trade_ids",
    "exchange_trade_ids", "book_account", "exchange_account",
]  # fmt: skip
# Both sides' accounts are named by source and code: two exchanges' data may carry one code.
ACCOUNTS = ("internal_account__source", "external_account__source")


def _row(item: Break, observation: BreakObservation | None = None) -> dict:
    source = observation or item
    ids = break_evidence.of_break(item)
    return {
        "break_id": str(item.pk),
        "type": item.type,
        "account": item.account,
        "asset": item.asset,
        "entity": item.entity,
        "field": item.field,
        "internal_value": plain(source.internal_value),
        "external_value": plain(source.external_value),
        "difference": plain(source.difference),
        "difference_pct": plain(item.difference_pct),
        "value_rc": plain(source.value_rc),
        "severity": source.severity,
        "causes": ";".join(item.causes or []),
        "status": item.status,
        "first_seen_at": plain(item.first_seen_at),
        "last_seen_at": plain(item.last_seen_at),
        "times_seen": str(item.times_seen),
        # JSON arrays, as in the matches export: a trade id may hold any text, "+" included.
        "book_trade_ids": "" if ids is None else json.dumps(ids.book, ensure_ascii=False),
        "exchange_trade_ids": "" if ids is None else json.dumps(ids.exchange, ensure_ascii=False),
        "book_account": str(item.internal_account),
        "exchange_account": str(item.external_account),
    }


def run_breaks(run: Run) -> Iterator[dict]:
    """The breaks one run saw, with the values it saw."""
    observations = (
        BreakObservation.objects.filter(run=run)
        .select_related(*(f"break_record__{related}" for related in ACCOUNTS))
        .order_by("break_record_id")
    )
    for observation in observations.iterator(chunk_size=5000):
        yield _row(observation.break_record, observation)


def breaks(queryset) -> Iterator[dict]:
    for item in queryset.select_related(*ACCOUNTS).iterator(chunk_size=5000):
        yield _row(item)


def write_csv(rows: Iterable[dict], stream) -> int:
    return write_csv_rows(rows, FIELDS, stream)


def write_json(rows: Iterable[dict], stream) -> int:
    return write_json_rows(rows, stream)
