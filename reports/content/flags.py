"""Regulatory flags, recommendations and the executive summary: each flag names the figure
and the threshold that raised it (thresholds: figures.Thresholds, settings REPORT_*)."""

from __future__ import annotations

from datetime import datetime, timedelta

from reports.content import figures as f
from reports.content import types as t
from reports.content.text import exact, grouped
from reports.content.types import BreakLine

LEVELS = ("critical", "warning", "info")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def regulatory(
    rows: list[BreakLine], *, now: datetime, limits: f.Thresholds, currency: str
) -> tuple[t.Flag, ...]:
    """Critical breaks open past close of business, old breaks, high-value breaks."""
    live = [row for row in rows if row.status in f.LIVE]
    cob = limits.close_of_business.strftime("%H:%M")
    late = [
        r
        for r in live
        if r.severity == "critical" and f.moment_of(r.first_seen_at, limits.close_of_business) < now
    ]
    aged_before = now - timedelta(days=limits.break_age_days)
    aged = [r for r in live if r.first_seen_at < aged_before]
    high = [
        r for r in live if r.value_rc is not None and r.value_rc.copy_abs() >= limits.high_value
    ]
    flags = []
    if late:
        flags.append(
            t.Flag(
                "critical_open_past_cob",
                "critical",
                f"{_count(len(late), 'critical break')} open past close of business "
                f"({cob} UTC on the day first seen), {grouped(f.total(r.value_rc for r in late))} "
                f"{currency} at risk.",
                "critical_open",
                str(len(late)),
                f"none open after {cob} UTC",
            )
        )
    if aged:
        flags.append(
            t.Flag(
                "breaks_older_than_limit",
                "warning",
                f"{_count(len(aged), 'open break')} first seen more than {limits.break_age_days} "
                f"days ago; the oldest since {min(r.first_seen_at for r in aged):%Y-%m-%d}.",
                "open_breaks",
                str(len(aged)),
                f"older than {limits.break_age_days} days",
            )
        )
    if high:
        flags.append(
            t.Flag(
                "high_value_breaks",
                "warning",
                f"{_count(len(high), 'open break')} of {grouped(limits.high_value)} {currency} or "
                f"more, {grouped(f.total(r.value_rc for r in high))} {currency} in all.",
                "value_at_risk",
                str(len(high)),
                f">= {exact(limits.high_value)} {currency}",
            )
        )
    return tuple(flags)


def recommendations(
    rows: list[BreakLine],
    *,
    exposures: tuple[t.Exposure, ...],
    patterns: t.Patterns,
    performance: tuple[t.Figure, ...],
    corrections: list[t.CorrectionLine],
    limits: f.Thresholds,
    versions: tuple[str, ...],
) -> tuple[t.Flag, ...]:
    """What to do next, most urgent first; each names its figure and threshold."""
    shown = {figure.key: figure for figure in performance}
    found = []
    field = patterns.most_frequent_field
    share = f.pct(field.count, len(rows)) if field else None
    if field and share is not None and share >= limits.field_share_pct and len(rows) > 1:
        found.append(
            t.Flag(
                "frequent_field",
                "warning",
                f"{share}% of breaks are on {field.key}: compare how the book and the exchange "
                f"record it before correcting break by break.",
                "most_frequent_field",
                f"{share}%",
                f">= {exact(limits.field_share_pct)}% of breaks",
            )
        )
    sources = {row.source for row in rows}
    source = patterns.most_problematic_source
    share = f.pct(source.count, len(rows)) if source else None
    if source and len(sources) > 1 and share is not None and share >= limits.source_share_pct:
        found.append(
            t.Flag(
                "problem_source",
                "warning",
                f"{share}% of breaks come from {source.key}: check its feed and its mapping.",
                "most_problematic_source",
                f"{share}%",
                f">= {exact(limits.source_share_pct)}% of breaks",
            )
        )
    stale = [x.asset for x in exposures if x.stale]
    if stale:
        found.append(
            t.Flag(
                "stale_prices",
                "warning",
                f"{_count(len(stale), 'asset')} valued with a stale price ({_names(stale)}): "
                "refresh the price feed before relying on the value at risk.",
                "value_at_risk",
                str(len(stale)),
                "no stale price",
            )
        )
    unvalued = sorted({row.asset for row in rows if row.value_rc is None and row.asset})
    if unvalued:
        found.append(
            t.Flag(
                "unvalued_breaks",
                "warning",
                f"Breaks in {_count(len(unvalued), 'asset')} have no price ({_names(unvalued)}): "
                "load prices for them so their value counts.",
                "unvalued_breaks",
                str(sum(row.value_rc is None for row in rows)),
                "0",
            )
        )
    rate = shown.get("match_rate_count")
    if rate and rate.value is not None and rate.value < limits.match_rate_pct:
        found.append(
            t.Flag(
                "low_match_rate",
                "warning",
                f"The match rate is {rate.value}%: work the largest breaks first (the breaks "
                "list, sorted by value).",
                "match_rate_count",
                f"{rate.value}%",
                f"< {exact(limits.match_rate_pct)}%",
            )
        )
    rate = shown.get("auto_correction_rate")
    if corrections and rate and rate.value is not None and rate.value < limits.auto_rate_pct:
        found.append(
            t.Flag(
                "low_auto_correction_rate",
                "info",
                f"Only {rate.value}% of corrections were approved automatically: review the "
                f"auto-correction limits of {', '.join(versions) or 'the rule set'}.",
                "auto_correction_rate",
                f"{rate.value}%",
                f"< {exact(limits.auto_rate_pct)}%",
            )
        )
    recurring = [r for r in rows if r.times_seen >= limits.recurring_times]
    if recurring:
        found.append(
            t.Flag(
                "recurring_breaks",
                "info",
                f"{_count(len(recurring), 'break')} seen by {limits.recurring_times} runs or more: "
                "fix their cause rather than correcting each run.",
                "recurring",
                str(len(recurring)),
                f">= {limits.recurring_times} sightings",
            )
        )
    return tuple(sorted(found, key=lambda flag: LEVELS.index(flag.level)))


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def summary(
    rows: list[BreakLine],
    *,
    key_figures: tuple[t.Figure, ...],
    flags: tuple[t.Flag, ...],
    advice: tuple[t.Flag, ...],
    currency: str,
) -> t.Summary:
    live_critical = [r for r in rows if r.status in f.LIVE and r.severity == "critical"]
    issues = []
    if live_critical:
        issues.append(
            f"{_count(len(live_critical), 'critical break')} open, "
            f"{grouped(f.total(r.value_rc for r in live_critical))} {currency} at risk."
        )
    issues += [flag.text for flag in flags if flag.level == "critical"]
    status = (
        (
            f"{_count(len(flags), 'regulatory flag')} raised: "
            + "; ".join(flag.code.replace("_", " ") for flag in flags)
        )
        if flags
        else ("No regulatory flag raised.")
    )
    return t.Summary(key_figures, tuple(issues), advice[:3], status)
