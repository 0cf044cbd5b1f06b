"""Every figure of a report, computed once from plain rows (docs/reports.md defines each).

Pure functions of the scope's breaks, corrections and runs: the builder reads those through
the selectors and passes them here; tests hand-build them. Sums run in a wide decimal context:
an amount has up to 38 digits, which Python's default 28-digit context would round.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from operator import attrgetter

from reports.content import types as t
from reports.content.rows import RunFigures
from reports.content.types import BreakLine

SEVERITY_ORDER = ("critical", "high", "medium", "low")  # most severe first
SEVERITY_WEIGHT = {
    "critical": Decimal(1),
    "high": Decimal("0.75"),
    "medium": Decimal("0.5"),
    "low": Decimal("0.25"),
}
LIVE = ("open", "investigating")
WIDE = 80  # digits: sums of 38-digit amounts stay exact
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Thresholds:
    """What raises a flag or a recommendation (settings REPORT_*; docs/reports.md)."""

    close_of_business: clock = clock(17, 0)  # UTC
    break_age_days: int = 5
    high_value: Decimal = Decimal(10_000)  # in the reporting currency
    field_share_pct: Decimal = Decimal(30)
    source_share_pct: Decimal = Decimal(50)
    match_rate_pct: Decimal = Decimal(99)
    auto_rate_pct: Decimal = Decimal(50)
    recurring_times: int = 3


def pct(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """100 x part / whole to the cent (half to even); None when the whole is nothing."""
    if not whole:
        return None
    with localcontext(prec=WIDE):
        return (Decimal(part) * 100 / Decimal(whole)).quantize(CENT, ROUND_HALF_EVEN)


def total(values: Iterable[Decimal | None]) -> Decimal:
    """The exact sum of the absolute values (None counts nothing)."""
    with localcontext(prec=WIDE):
        return sum((abs(v) for v in values if v is not None), Decimal(0))


# --- The lists' order -------------------------------------------------------------------------

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITY_ORDER)}
NO_VALUE = Decimal(-1)  # below every absolute value: a break with no value comes last


def in_list_order(rows: list[BreakLine]) -> list[BreakLine]:
    """The breaks as every list shows them: most severe first (an unknown severity last),
    then most value (none last), then oldest (lowest id): by id, each severity's in a list,
    each list sorted by value (stable sorts of one key: no tuple per break)."""
    by_severity: dict[int, list[BreakLine]] = {}
    for row in sorted(rows, key=attrgetter("id")):
        by_severity.setdefault(SEVERITY_RANK.get(row.severity, len(SEVERITY_ORDER)), []).append(row)
    ordered = []
    for rank in sorted(by_severity):
        # A reversed sort keeps equal ones in order: oldest first.
        ordered += sorted(by_severity[rank], key=_absolute_value, reverse=True)
    return ordered


def _absolute_value(row: BreakLine) -> Decimal:
    return NO_VALUE if row.value_rc is None else row.value_rc.copy_abs()  # exact at any width


# --- Groupings --------------------------------------------------------------------------------


def grouped(rows: list[BreakLine], key: str) -> tuple[Counter, dict[str, Decimal]]:
    """Counts and absolute values summed per value of a field, in one pass."""
    names = [getattr(row, key) or "(none)" for row in rows]
    counts = Counter(names)
    values: dict[str, Decimal] = dict.fromkeys(counts, Decimal(0))
    with localcontext(prec=WIDE):
        for name, row in zip(names, rows, strict=True):
            if row.value_rc is not None:
                values[name] += abs(row.value_rc)
    return counts, values


FEW_VALUED = ("severity", "type", "source", "field")  # a report's other tallies


def groupings(rows: list[BreakLine]) -> dict[str, tuple[Counter, dict[str, Decimal]]]:
    """`grouped(rows, key)` for each key of FEW_VALUED, in one pass: the breaks are counted
    and summed by the combination of those fields (a few hundred among a hundred thousand
    breaks), and each key's groups added up from the combinations."""
    combination = attrgetter(*FEW_VALUED)
    counts = Counter(map(combination, rows))
    values = dict.fromkeys(counts, Decimal(0))
    found = {key: (Counter(), {}) for key in FEW_VALUED}
    with localcontext(prec=WIDE):
        for row in rows:
            if row.value_rc is not None:
                values[combination(row)] += abs(row.value_rc)
        for names, count in counts.items():
            for key, name in zip(FEW_VALUED, names, strict=True):
                key_counts, key_values = found[key]
                name = name or "(none)"
                key_counts[name] += count
                key_values[name] = key_values.get(name, Decimal(0)) + values[names]
    return found


def _ordered(counts: Counter, values: dict[str, Decimal], by: str) -> list[str]:
    """The names, most breaks first (`by="value"`: most value first), then the other, then
    name: stable sorts keyed by the dicts themselves (no tuple per name, and a hundred
    thousand names for assets)."""
    order = sorted(counts)
    first, second = (values, counts) if by == "value" else (counts, values)
    order.sort(key=second.__getitem__, reverse=True)
    order.sort(key=first.__getitem__, reverse=True)
    return order


def names_by_value(groups: tuple[Counter, dict[str, Decimal]]) -> list[str]:
    """The names of `grouped`'s groups, most value first, then most breaks, then name."""
    return _ordered(*groups, "value")


def tallies(
    rows: list[BreakLine], key: str, *, by: str = "count", groups: tuple | None = None
) -> tuple[t.Tally, ...]:
    """Breaks grouped by a field, most breaks (or `by="value"`) first (`groups`:
    `grouped(rows, key)`, when the caller has it)."""
    counts, values = groups or grouped(rows, key)
    order = _ordered(counts, values, by)
    return tuple(t.Tally(name, counts[name], values[name]) for name in order)


def top_by_value(
    rows: list[BreakLine],
    key: str,
    limit: int,
    *,
    groups: tuple | None = None,
    order: list[str] | None = None,
) -> tuple[t.Tally, ...]:
    """The `limit` groups with most value, and the rest summed as one "(N others)" line
    (`groups`: `grouped(rows, key)`, and `order`: its names most value first, when the caller
    has them)."""
    counts, values = groups or grouped(rows, key)
    if order is not None:
        chosen = Counter({name: counts[name] for name in order[:limit]})
    elif len(counts) > limit:
        best = heapq.nlargest(limit, counts, key=lambda name: (values[name], counts[name]))
        chosen = Counter({name: counts[name] for name in best})
    else:
        chosen = counts
    shown = [
        t.Tally(name, counts[name], values[name]) for name in _ordered(chosen, values, "value")
    ]
    if len(counts) > limit:
        with localcontext(prec=WIDE):
            value = sum(values.values(), Decimal(0)) - sum((x.value_rc for x in shown), Decimal(0))
        count = sum(counts.values()) - sum(x.count for x in shown)
        shown.append(t.Tally(f"({len(counts) - limit:,} others)", count, value))
    return tuple(shown)


def by_severity(rows: list[BreakLine], *, groups: tuple | None = None) -> tuple[t.Tally, ...]:
    """Every severity, most severe first, those with no break included (a reader looks for
    "critical: 0")."""
    found = {x.key: x for x in tallies(rows, "severity", groups=groups)}
    order = list(SEVERITY_ORDER) + sorted(set(found) - set(SEVERITY_ORDER))
    return tuple(found.get(name, t.Tally(name, 0, Decimal(0))) for name in order)


# --- Value at risk ----------------------------------------------------------------------------


def value_at_risk(rows: list[BreakLine]) -> Decimal:
    """The open breaks' absolute values in the reporting currency, summed."""
    return total(row.value_rc for row in rows if row.status in LIVE)


def exposures(
    rows: list[BreakLine],
    quotes: dict[str, tuple],
    *,
    groups: tuple | None = None,
    order: list[str] | None = None,
) -> tuple[t.Exposure, ...]:
    """The value at risk per asset (open breaks), with the price it was valued at; most value
    first (`groups`: `grouped` of the open breaks by asset, and `order`: its names most value
    first, when the caller has them)."""
    counts, values = groups or grouped([row for row in rows if row.status in LIVE], "asset")
    order = order if order is not None else _ordered(counts, values, "value")
    missing = (None, None, False)
    return tuple(
        t.Exposure(name, counts[name], values[name], *quotes.get(name, missing)) for name in order
    )


# --- Patterns ---------------------------------------------------------------------------------


def patterns(
    rows: list[BreakLine], *, recurring_limit: int = 20, groups: dict | None = None
) -> t.Patterns:
    """`groups`: `groupings(rows)`, when the caller has them."""
    groups = groups or {}
    fields = tallies(rows, "field", groups=groups.get("field"))
    sources = tallies(rows, "source", groups=groups.get("source"))
    # By the moment first seen (a run's breaks share a few), then by hour.
    hours = Counter()
    for moment, count in Counter(row.first_seen_at for row in rows).items():
        hours[moment.astimezone(UTC).hour] += count
    recurring = sorted(
        (row for row in rows if row.times_seen > 1),
        key=lambda r: (-r.times_seen, r.first_seen_run, r.id),
    )
    return t.Patterns(
        most_frequent_field=fields[0] if fields else None,
        most_problematic_source=sources[0] if sources else None,
        by_hour=tuple(hours.get(hour, 0) for hour in range(24)),
        recurring=tuple(
            t.Recurring(r.id, r.first_seen_run, r.times_seen, r.asset, r.field, r.severity)
            for r in recurring[:recurring_limit]
        ),
    )


# --- Performance ------------------------------------------------------------------------------

DEFINITIONS = {
    "breaks": "Breaks in the report's scope: those its runs saw, each once.",
    "open_breaks": "Breaks in scope still open or under investigation when the report was made.",
    "critical_open": "Open breaks in scope whose severity is critical.",
    "value_at_risk": "The open breaks' absolute values in the reporting currency, summed.",
    "unvalued_breaks": "Breaks in scope with no value in the reporting currency (no price).",
    "corrections_applied": "Corrections in scope applied to the book and not rolled back.",
    "match_rate_count": "Items compared without a break, as a share of all items the runs "
    "compared.",
    "match_rate_value": "One less the breaks' absolute value as a share of the book's value "
    "(its accounts' holdings at their latest run in scope).",
    "auto_correction_rate": "Corrections approved by the rule set version's auto-correction "
    "limits, as a share of all corrections in scope.",
    "manual_intervention_rate": "Breaks a person acted on (assigned, commented, accepted, or "
    "corrected with a person's proposal or approval), as a share "
    "of the breaks in scope.",
    "time_to_resolve_median": "Hours from a break's first sighting to its resolution, median "
    "of the resolved breaks in scope.",
    "time_to_resolve_p90": "Hours from a break's first sighting to its resolution, 90th "
    "percentile (nearest rank) of the resolved breaks in scope.",
    "data_quality_score": "100 less the severity-weighted breaks (critical 1, high 0.75, "
    "medium 0.5, low 0.25) as a share of the items compared; 0 at worst.",
}


def _figure(key, label, value, unit, note="", definition_key=None) -> t.Figure:
    return t.Figure(key, label, value, unit, DEFINITIONS[definition_key or key], note)


def hours(span: timedelta) -> Decimal:
    seconds = Decimal(span.days * 86_400 + span.seconds) + Decimal(span.microseconds) / 10**6
    with localcontext(prec=WIDE):
        return (seconds / 3600).quantize(CENT, ROUND_HALF_EVEN)


def median(values: list[Decimal]) -> Decimal:
    ordered_values = sorted(values)
    middle = len(ordered_values) // 2
    if len(ordered_values) % 2:
        return ordered_values[middle]
    with localcontext(prec=WIDE):
        return ((ordered_values[middle - 1] + ordered_values[middle]) / 2).quantize(CENT)


def nearest_rank(values: list[Decimal], percent: int) -> Decimal:
    ordered_values = sorted(values)
    return ordered_values[max(1, math.ceil(percent * len(ordered_values) / 100)) - 1]


def resolve_times(rows: list[BreakLine]) -> tuple[t.Figure, ...]:
    """Median and 90th percentile of the hours to resolve, overall and per severity."""
    found = []
    for severity in ("", *SEVERITY_ORDER):
        spans = [
            hours(r.resolved_at - r.first_seen_at)
            for r in rows
            if r.status == "resolved"
            and r.resolved_at is not None
            and (not severity or r.severity == severity)
        ]
        suffix = f"_{severity}" if severity else ""
        which = f" ({severity})" if severity else ""
        note = "" if spans else "no resolved breaks in scope"
        for kind, label, compute in (
            ("median", "median", median),
            ("p90", "90th percentile", lambda v: nearest_rank(v, 90)),
        ):
            found.append(
                _figure(
                    f"time_to_resolve_{kind}{suffix}",
                    f"Time to resolve, {label}{which}",
                    compute(spans) if spans else None,
                    "hours",
                    note,
                    definition_key=f"time_to_resolve_{kind}",
                )
            )
    return tuple(found)


def performance(
    rows: list[BreakLine],
    corrections: list[t.CorrectionLine],
    runs: list[RunFigures],
    *,
    book_value: Decimal | None,
    touched: set[int],
    currency: str,
) -> tuple[t.Figure, ...]:
    """The performance figures, in the order the report prints them."""
    compared = sum(run.compared for run in runs)
    run_breaks = sum(run.break_count for run in runs)
    automatic = sum(1 for c in corrections if c.automatic)
    seen = total(row.value_rc for row in rows)
    with localcontext(prec=WIDE):
        weighted = sum(
            (
                SEVERITY_WEIGHT.get(severity, Decimal(1)) * count
                for run in runs
                for severity, count in run.by_severity.items()
            ),
            Decimal(0),
        )
        value_rate = (
            None if not book_value else max(Decimal(0), Decimal(100) - pct(seen, book_value))
        )
        quality = None if not compared else max(Decimal(0), Decimal(100) - pct(weighted, compared))
    no_runs = "no runs in scope" if not runs else ""
    return (
        _figure(
            "match_rate_count",
            "Match rate (by count)",
            None if not compared else pct(compared - run_breaks, compared),
            "%",
            no_runs,
        ),
        _figure(
            "match_rate_value",
            "Match rate (by value)",
            value_rate,
            "%",
            "" if book_value else "the book's value is unknown (no prices)",
        ),
        _figure(
            "auto_correction_rate",
            "Auto-correction rate",
            pct(automatic, len(corrections)),
            "%",
            "" if corrections else "no corrections in scope",
        ),
        _figure(
            "manual_intervention_rate",
            "Manual intervention rate",
            pct(len(touched), len(rows)),
            "%",
            "" if rows else "no breaks in scope",
        ),
        *resolve_times(rows),
        _figure("data_quality_score", "Data quality score", quality, "", no_runs),
    )


def key_figures(
    rows: list[BreakLine],
    corrections: list[t.CorrectionLine],
    performance_figures: tuple[t.Figure, ...],
    currency: str,
    at_risk: Decimal,
) -> tuple[t.Figure, ...]:
    live = [row for row in rows if row.status in LIVE]
    shown = {f.key: f for f in performance_figures}
    return (
        _figure("breaks", "Breaks", len(rows), "breaks"),
        _figure("open_breaks", "Open breaks", len(live), "breaks"),
        _figure(
            "critical_open", "Critical open", sum(r.severity == "critical" for r in live), "breaks"
        ),
        _figure("value_at_risk", "Value at risk", at_risk, currency),
        _figure(
            "unvalued_breaks", "Unvalued breaks", sum(r.value_rc is None for r in rows), "breaks"
        ),
        _figure(
            "corrections_applied",
            "Corrections applied",
            sum(c.status == "applied" for c in corrections),
            "corrections",
        ),
        shown["match_rate_count"],
        shown["auto_correction_rate"],
        shown["data_quality_score"],
    )


def touched_breaks(
    rows: list[BreakLine], corrections: list[t.CorrectionLine], commented: set[int]
) -> set[int]:
    """The breaks a person acted on (DEFINITIONS["manual_intervention_rate"])."""
    in_scope = {row.id for row in rows}
    by_person = {c.break_id for c in corrections if not c.automatic}
    acted = {row.id for row in rows if row.assigned or row.status == "accepted"}
    return in_scope & (acted | by_person | commented)


def moment_of(day_seen: datetime, at: clock) -> datetime:
    """Close of business on the (UTC) day a break was first seen."""
    return datetime.combine(day_seen.astimezone(UTC).date(), at, tzinfo=UTC)
