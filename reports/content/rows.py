"""The rows the content is computed from, as the selectors read them (no Django here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class BreakRow:
    """A break in scope, with the values of the latest run in scope that saw it."""

    id: int
    run_id: int
    type: str
    severity: str  # as that run saw it
    status: str  # now
    source: str  # the exchange side's source
    account: str
    asset: str
    entity: str
    field: str
    internal_value: Decimal | None
    external_value: Decimal | None
    difference: Decimal | None
    value_rc: Decimal | None
    first_seen_at: datetime
    last_seen_at: datetime
    times_seen: int
    first_seen_run: int
    causes: tuple[str, ...]
    resolved_at: datetime | None
    assigned: bool


@dataclass(frozen=True)
class RunFigures:
    """What the figures need of a run in scope."""

    id: int
    account: str  # the book's account: book values are summed once per account
    compared: int
    break_count: int
    by_severity: dict[str, int]
