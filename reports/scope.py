"""What a report covers (the scope every door asks for, and the builder builds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.utils import timezone

from config.errors import DomainError
from reports import selectors

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


def check(wanted: Wanted) -> None:
    """Refuse a scope that cannot be reported (the run, the period, the filters): before a
    report is queued, and again as it is built."""
    unknown = set(wanted.filters) - set(FILTERS)
    if unknown:
        raise ScopeRefused(f"Unknown report filter(s): {', '.join(sorted(unknown))}.")
    if wanted.run_id is not None:
        if wanted.period_from or wanted.period_to:
            raise ScopeRefused("Give a run or a period, not both.")
        narrowed = sorted(n for n in ("type", "source", "account") if wanted.filters.get(n))
        if narrowed:
            raise ScopeRefused(
                f"A run's report covers that run: {', '.join(narrowed)} narrow a period's runs "
                "(a run's breaks are narrowed by severity only)."
            )
        status = selectors.run_status(wanted.run_id)
        if status is None:
            raise ScopeRefused(f"There is no run {wanted.run_id}.")
        if status != selectors.SUCCEEDED:
            raise ScopeRefused(
                f"Run {wanted.run_id} is {status}: only a succeeded run has results to report."
            )
        return
    if wanted.period_from is None or wanted.period_to is None:
        raise ScopeRefused("Give a run, or a period with its first and last day.")
    if wanted.period_from > wanted.period_to:
        raise ScopeRefused(
            f"The period starts ({wanted.period_from}) after it ends ({wanted.period_to})."
        )
    if wanted.period_to > timezone.now().date():
        raise ScopeRefused(f"The period ends in the future ({wanted.period_to}).")
