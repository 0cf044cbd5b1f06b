"""The report's content: every figure computed once, for a run or a period, from what the
selectors read (reports/selectors.py). The renderers only lay it out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext

from django.conf import settings
from django.utils import timezone

from config.heap import collector_paused
from reports import selectors
from reports.content import charts, figures, flags
from reports.content import types as t
from reports.content.rows import RunFigures
from reports.content.text import stamp
from reports.scope import FILTERS, ScopeRefused, Wanted, check

__all__ = ["FILTERS", "ScopeRefused", "Wanted", "build", "thresholds"]


# Breaks by asset: the assets with most value, the rest summed in one line (every asset's open
# breaks, value and price are the exposures, listed in full).
BY_ASSET_LIMIT = 50


def thresholds() -> figures.Thresholds:
    """The flags' thresholds from the settings (REPORT_*, docs/reports.md)."""
    return figures.Thresholds(
        close_of_business=settings.REPORT_CLOSE_OF_BUSINESS,
        break_age_days=settings.REPORT_BREAK_AGE_DAYS,
        high_value=settings.REPORT_HIGH_VALUE,
        field_share_pct=settings.REPORT_FIELD_SHARE_PCT,
        source_share_pct=settings.REPORT_SOURCE_SHARE_PCT,
        match_rate_pct=settings.REPORT_MATCH_RATE_PCT,
        auto_rate_pct=settings.REPORT_AUTO_CORRECTION_PCT,
        recurring_times=settings.REPORT_RECURRING_TIMES,
    )


def build(wanted: Wanted, *, generated_by: str, now: datetime | None = None) -> t.ReportContent:
    """The content of the report `wanted`, as of `now` (default: the present)."""
    now = now or timezone.now()
    with localcontext(prec=figures.WIDE), collector_paused():
        return _build(wanted, generated_by, now.astimezone(UTC))


def _build(wanted: Wanted, generated_by: str, now: datetime) -> t.ReportContent:
    in_scope = _runs(wanted)
    currency = _currency(in_scope)
    run_ids = [r.run.pk for r in in_scope]
    severity = wanted.filters.get("severity", "")
    comment_rows = selectors.comments(run_ids, severity=severity)
    latest = {row[0]: row[3] for row in comment_rows}  # oldest first: the last one stays
    # By id, as read: the figures walk the lines in the order they were made, which is the
    # order they lie in memory (in the lists' order each pass took twice as long).
    rows = selectors.break_rows(run_ids, severity=severity, comments=latest, line=t.BreakLine)
    head = selectors.chain_head()  # before anything this report records
    commented = set(latest)
    corrections = _corrections(run_ids, severity)
    per_run = _run_quotes(in_scope)
    groups = figures.groupings(rows)
    by_asset = figures.grouped(rows, "asset")
    asset_order = figures.names_by_value(by_asset)
    # Usually every break of a fresh report is open: the same groups serve both lists.
    all_live = all(row.status in figures.LIVE for row in rows)
    exposures = figures.exposures(
        rows, _quotes(in_scope, per_run), groups=by_asset if all_live else None,
        order=asset_order if all_live else None,
    )  # fmt: skip
    patterns = figures.patterns(rows, groups=groups)
    versions = tuple(dict.fromkeys(_version(r.run) for r in in_scope))
    touched = figures.touched_breaks(rows, corrections, commented)
    performance = figures.performance(
        rows, corrections, [_run_figures(r) for r in in_scope],
        book_value=_book_value(in_scope, per_run), touched=touched, currency=currency,
    )  # fmt: skip
    limits = thresholds()
    raised = flags.regulatory(rows, now=now, limits=limits, currency=currency)
    advice = flags.recommendations(
        rows, exposures=exposures, patterns=patterns, performance=performance,
        corrections=corrections, limits=limits, versions=versions,
    )  # fmt: skip
    at_risk = figures.value_at_risk(rows)
    key = figures.key_figures(rows, corrections, performance, currency, at_risk)
    severities = figures.by_severity(rows, groups=groups["severity"])
    types = figures.tallies(rows, "type", groups=groups["type"])
    return t.ReportContent(
        title=_title(wanted, in_scope),
        generated_at=now,
        generated_by=generated_by,
        reporting_currency=currency,
        scope=_scope(wanted, in_scope),
        rule_set_versions=versions,
        chain_head=t.ChainHead(*head),
        summary=flags.summary(
            rows, key_figures=key, flags=raised, advice=advice, currency=currency
        ),
        by_severity=severities,
        by_type=types,
        by_asset=figures.top_by_value(
            rows, "asset", BY_ASSET_LIMIT, groups=by_asset, order=asset_order
        ),
        by_source=figures.tallies(rows, "source", groups=groups["source"]),
        value_at_risk=at_risk,
        exposures=exposures,
        patterns=patterns,
        performance=performance,
        recommendations=advice,
        regulatory_flags=raised,
        breaks=tuple(figures.in_list_order(rows)),
        corrections=tuple(corrections),
        comments=tuple(t.CommentLine(*row) for row in comment_rows),
        audit=tuple(
            t.AuditLine(*row)
            for row in selectors.audit_rows(
                run_ids=run_ids, correction_ids=[c.id for c in corrections], head=head[0]
            )
        ),
        charts=charts.charts(
            by_severity=severities,
            by_type=types,
            exposures=exposures,
            by_hour=patterns.by_hour,
            currency=currency,
        ),
    )


def _runs(wanted: Wanted) -> list[selectors.ScopeRun]:
    check(wanted)
    if wanted.run_id is None:
        return selectors.scope_runs(period_from=wanted.period_from, period_to=wanted.period_to,
                                    filters=wanted.filters)  # fmt: skip
    return selectors.scope_runs(run_id=wanted.run_id)


def _currency(in_scope: list[selectors.ScopeRun]) -> str:
    currencies = sorted({r.reporting_currency or settings.REPORTING_CURRENCY for r in in_scope})
    if len(currencies) > 1:
        raise ScopeRefused(
            f"The runs in this period value in several currencies ({', '.join(currencies)}): "
            "narrow it (by type, source or account) to runs of one reporting currency."
        )
    return currencies[0] if currencies else settings.REPORTING_CURRENCY


def _run_figures(scope_run: selectors.ScopeRun) -> RunFigures:
    run = scope_run.run
    return RunFigures(run.pk, str(run.internal_dataset.account_id), scope_run.compared,
                      run.break_count or 0, dict(run.by_severity or {}))  # fmt: skip


def _run_quotes(in_scope: list[selectors.ScopeRun]) -> dict[int, dict[str, tuple]]:
    """{run id: its quotes}: each prices dataset, time and rule set version read once."""
    read: dict[tuple, dict[str, tuple]] = {}
    found = {}
    for scope_run in in_scope:
        run = scope_run.run
        if run.prices_dataset_id is None:
            continue
        key = (run.prices_dataset_id, run.as_of, run.rule_set_version_id)
        if key not in read:
            read[key] = selectors.quotes(run)
        found[run.pk] = read[key]
    return found


def _quotes(in_scope: list[selectors.ScopeRun], per_run: dict[int, dict]) -> dict[str, tuple]:
    """Per asset the price of the latest run in scope that quotes it."""
    merged: dict[str, tuple] = {}
    for scope_run in in_scope:  # oldest first: later runs' prices replace earlier ones
        merged.update(per_run.get(scope_run.run.pk, {}))
    return merged


def _book_value(in_scope: list[selectors.ScopeRun], per_run: dict[int, dict]) -> Decimal | None:
    """The book's value: each book account's holdings at its latest run in scope, summed;
    None when any of them is unknown."""
    latest = {}
    for scope_run in in_scope:
        latest[scope_run.run.internal_dataset.account_id] = scope_run.run
    values = [selectors.book_value(run, per_run.get(run.pk, {})) for run in latest.values()]
    if not values or any(value is None for value in values):
        return None
    return sum(values, Decimal(0))


def _corrections(run_ids: list[int], severity: str) -> list[t.CorrectionLine]:
    approvals = selectors.approvers(run_ids)
    lines = []
    for row in selectors.correction_rows(run_ids, severity=severity):
        creator = row[17] or "system"
        lines.append(t.CorrectionLine(*row[:17], creator, row[18],
                                      tuple(approvals.get(row[0], ())), *row[19:]))  # fmt: skip
    return lines


def _version(run) -> str:
    version = run.rule_set_version
    return f"{version.rule_set.name} v{version.number}"


def _title(wanted: Wanted, in_scope: list[selectors.ScopeRun]) -> str:
    if wanted.run_id is not None:
        return f"Reconciliation report: run {wanted.run_id} ({in_scope[0].run.type})"
    return f"Reconciliation report: {wanted.period_from} to {wanted.period_to}"


def _scope(wanted: Wanted, in_scope: list[selectors.ScopeRun]) -> t.Scope:
    lines = tuple(_run_line(r.run) for r in in_scope)
    narrowed = {name: value for name, value in wanted.filters.items() if value}
    if wanted.run_id is not None:
        run = in_scope[0].run
        text = (f"Run {run.pk} ({run.type}): book {selectors.dataset_label(run.internal_dataset)}"
                f" against {selectors.dataset_label(run.external_dataset)}, as of "
                f"{stamp(run.as_of)}")  # fmt: skip
    else:
        count = f"{len(lines)} run{'s' if len(lines) != 1 else ''}" if lines else "no runs"
        text = f"{wanted.period_from} to {wanted.period_to} (UTC): {count}"
    if narrowed:
        text += "; " + ", ".join(f"{name} {value}" for name, value in sorted(narrowed.items()))
    return t.Scope(wanted.kind, text, wanted.run_id, wanted.period_from, wanted.period_to,
                   {name: wanted.filters.get(name, "") for name in FILTERS}, lines)  # fmt: skip


def _run_line(run) -> t.RunLine:
    return t.RunLine(
        run.pk, run.type, run.status, selectors.dataset_label(run.internal_dataset),
        selectors.dataset_label(run.external_dataset), _version(run), run.as_of,
        run.finished_at, run.break_count, run.match_count, run.adjustment_count,
    )  # fmt: skip
