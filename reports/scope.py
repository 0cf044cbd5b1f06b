"""What a report covers (the scope every door asks for, and the builder builds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from config.errors import DomainError

FILTERS = ("source", "type", "account", "severity")


class ScopeRefused(DomainError):
    code = "report_scope_refused"


@dataclass(frozen=True)
class Wanted:
    """One run, or the runs that finished in a period (inclusive days, UTC), narrowed by
    filters (source, type, account: the runs'; severity: the breaks')."""

    run_id: int | None = None
    period_from: date | None = None
    period_to: date | None = None
    filters: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "run" if self.run_id is not None else "period"
