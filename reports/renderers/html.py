"""The HTML report: one standalone, printable page (CSS inline, charts inline as SVG, no request
of any kind), laid out by templates/reports/report.html from a `ReportContent`.

This module only turns the content's values into the texts a reader sees — `common.grouped()`
for amounts, with `common.exact()` beside it in `data-exact` for machines, `common.stamp()` for
times — and cuts the long lists at `HTML_BREAK_LIMIT` rows (the full lists belong in the Excel and
CSV files). User text goes to the template as it is, and the template escapes it; the only markup
marked safe is the charts' SVG, which reports.renderers.svg builds from escaped text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from reports.content import types as t
from reports.renderers.common import exact, grouped, iso, stamp
from reports.renderers.svg import svg

HTML_BREAK_LIMIT = 1000
TEMPLATE = "reports/report.html"
SEVERITY_CLASSES = frozenset({"critical", "high", "medium", "low"})
LEVEL_CLASSES = frozenset({"critical", "warning", "info"})
HOUR_CHART = {"width": 1280, "height": 200}  # 24 columns: the full width of the page
LONG_FIGURE = 16  # characters: past this a key figure's card spans two columns
FRACTION_CLASSES = 30  # the stylesheet's fw1 … fw30: a fraction's width in digits, point included
BREAK_AMOUNTS = ("internal", "external", "difference", "value")
CORRECTION_AMOUNTS = ("original", "corrected", "delta", "impact")


@dataclass(frozen=True)
class Amount:
    """An amount as a table shows it: grouped for reading, exact for `data-exact`. The grouped
    text is also given in two parts, the whole and the fraction (its point included), so that a
    column can line its amounts up on the decimal point."""

    exact: str
    text: str
    whole: str
    fraction: str


@dataclass(frozen=True)
class Moment:
    """A time as a `<time>` element shows it."""

    iso: str
    text: str


def render(content: t.ReportContent, out: BinaryIO, *, limit: int = HTML_BREAK_LIMIT) -> None:
    """Write the report page as UTF-8 bytes; lists longer than `limit` show their first rows."""
    out.write(render_to_string(TEMPLATE, context(content, limit)).encode("utf-8"))


def context(content: t.ReportContent, limit: int = HTML_BREAK_LIMIT) -> dict:
    """What the template lays out, every value already in its reading form."""
    scope = content.scope
    return {
        "title": content.title,
        "generated_at": _moment(content.generated_at),
        "generated_by": content.generated_by,
        "currency": content.reporting_currency,
        "scope": scope,
        "period": _period(scope),
        "filters": [(name, value) for name, value in scope.filters.items() if value],
        "runs": [_run(run) for run in scope.runs],
        "rule_set_versions": content.rule_set_versions,
        "chain_head": content.chain_head,
        "summary": content.summary,
        "key_figures": [_figure(f) for f in content.summary.key_figures],
        "top_recommendations": [_flag(f) for f in content.summary.top_recommendations],
        "flags_raised": bool(content.regulatory_flags),
        "charts": [_chart(chart) for chart in content.charts],
        "breakdowns": [
            ("Severity", "by-severity", _tallies(content.by_severity, severity=True)),
            ("Type", "by-type", _tallies(content.by_type)),
            ("Source", "by-source", _tallies(content.by_source)),
            ("Asset", "by-asset", _tallies(content.by_asset)),
        ],
        "value_at_risk": _amount(content.value_at_risk),
        "exposures": _cut(content.exposures, limit, _exposure, ("value", "price")),
        "patterns": _patterns(content.patterns),
        "performance": [_figure(f) for f in content.performance],
        "recommendations": [_flag(f) for f in content.recommendations],
        "regulatory_flags": [_flag(f) for f in content.regulatory_flags],
        "breaks": _cut(content.breaks, limit, _break, BREAK_AMOUNTS),
        "corrections": _cut(content.corrections, limit, _correction, CORRECTION_AMOUNTS),
        "comments": _cut(content.comments, limit, _comment),
        "audit": _cut(content.audit, limit, _audit),
    }


def _amount(value: t.Number | None) -> Amount:
    text = grouped(value)
    whole, point, fraction = text.partition(".")
    return Amount(exact(value), text, whole, point + fraction)


def _aligned(rows: list[dict], fields: tuple[str, ...]) -> dict[str, str]:
    """Per amount column, the CSS class giving its fractions one width (the widest one's), so
    that the decimal points line up; "" when no amount in the column has a fraction."""
    widths = {}
    for name in fields:
        widest = max((len(row[name].fraction) for row in rows if row[name]), default=0)
        widths[name] = f"fw{widest}" if 0 < widest <= FRACTION_CLASSES else ""
    return widths


def _moment(moment: datetime | None) -> Moment | None:
    return None if moment is None else Moment(iso(moment), stamp(moment))


def _css(name: str, known: frozenset[str]) -> str:
    """A CSS class for a severity or level the stylesheet knows ("" for any other word)."""
    return name if name in known else ""


def _period(scope: t.Scope) -> str:
    if scope.period_from is None and scope.period_to is None:
        return ""
    start = scope.period_from.isoformat() if scope.period_from else "…"
    end = scope.period_to.isoformat() if scope.period_to else "…"
    return f"{start} to {end} (inclusive)"


def _table(rows: list[dict], amounts: tuple[str, ...]) -> dict:
    return {"rows": rows, "widths": _aligned(rows, amounts)}


def _cut(lines: tuple, limit: int, shape, amounts: tuple[str, ...] = ()) -> dict:
    """The first `limit` lines in the content's order, and how many there are in all."""
    shown = lines[:limit]
    rows = [shape(line) for line in shown]
    return {
        "rows": rows,
        "widths": _aligned(rows, amounts),
        "total": grouped(len(lines)),
        "shown": grouped(len(shown)),
        "cut": len(lines) > len(shown),
        "empty": not lines,
    }


def _figure(figure: t.Figure) -> dict:
    return {
        "key": figure.key,
        "label": figure.label,
        "value": None if figure.value is None else _amount(figure.value),
        "unit": figure.unit,
        # A figure with many digits gets a wider card rather than a number broken in two.
        "long": figure.value is not None and len(grouped(figure.value)) > LONG_FIGURE,
        "definition": figure.definition,
        "note": figure.note,
    }


def _flag(flag: t.Flag) -> dict:
    return {
        "code": flag.code,
        "level": flag.level,
        "css": _css(flag.level, LEVEL_CLASSES),
        "text": flag.text,
        "figure": flag.figure,
        "value": flag.value,
        "threshold": flag.threshold,
    }


def _chart(chart: t.Chart) -> dict:
    # The one markup marked safe: svg() escapes every text it places.
    return {"key": chart.key, "title": chart.title, "svg": mark_safe(svg(chart))}  # noqa: S308


def _tallies(tallies: tuple[t.Tally, ...], *, severity: bool = False) -> dict:
    return _table([_tally(x, severity=severity) for x in tallies], ("value",))


def _tally(tally: t.Tally, *, severity: bool = False) -> dict:
    return {
        "key": tally.key,
        "css": _css(tally.key, SEVERITY_CLASSES) if severity else "",
        "count": _amount(tally.count),
        "value": _amount(tally.value_rc),
    }


def _exposure(exposure: t.Exposure) -> dict:
    return {
        "asset": exposure.asset,
        "breaks": _amount(exposure.breaks),
        "value": _amount(exposure.value_rc),
        "price": None if exposure.price is None else _amount(exposure.price),
        "as_of": _moment(exposure.price_as_of),
        "stale": exposure.stale,
    }


def _patterns(patterns: t.Patterns) -> dict:
    hours = tuple(f"{hour:02d}" for hour in range(len(patterns.by_hour)))
    by_hour = t.Chart(
        key="by_hour",
        title="Breaks by hour first seen (UTC)",
        kind="column",
        categories=hours,
        series=(t.Series("Breaks", patterns.by_hour),),
        unit="breaks",
    )
    return {
        "field": _tally(patterns.most_frequent_field) if patterns.most_frequent_field else None,
        "source": (
            _tally(patterns.most_problematic_source) if patterns.most_problematic_source else None
        ),
        "hours": [
            (hour, _amount(count)) for hour, count in zip(hours, patterns.by_hour, strict=True)
        ],
        "any_hour": any(patterns.by_hour),
        # A picture of the same counts the hour table gives; svg() escapes all it places.
        "hour_chart": mark_safe(svg(by_hour, **HOUR_CHART)),  # noqa: S308
        "recurring": [
            {
                "break_id": r.break_id,
                "since_run": r.since_run,
                "times_seen": _amount(r.times_seen),
                "asset": r.asset,
                "field": r.field,
                "severity": r.severity,
                "css": _css(r.severity, SEVERITY_CLASSES),
            }
            for r in patterns.recurring
        ],
    }


def _run(run: t.RunLine) -> dict:
    return {
        "id": run.id,
        "type": run.type,
        "status": run.status,
        "internal": run.internal,
        "external": run.external,
        "rule_set_version": run.rule_set_version,
        "as_of": _moment(run.as_of),
        "finished_at": _moment(run.finished_at),
        "breaks": _amount(run.break_count),
        "matches": _amount(run.match_count),
        "adjustments": _amount(run.adjustment_count),
    }


def _break(line: t.BreakLine) -> dict:
    return {
        "id": line.id,
        "run_id": line.run_id,
        "type": line.type,
        "severity": line.severity,
        "css": _css(line.severity, SEVERITY_CLASSES),
        "status": line.status,
        "source": line.source,
        "account": line.account,
        "asset": line.asset,
        "entity": line.entity if line.entity != line.asset else "",
        "field": line.field,
        "internal": _amount(line.internal_value),
        "external": _amount(line.external_value),
        "difference": _amount(line.difference),
        "value": _amount(line.value_rc),
        "first_seen": _moment(line.first_seen_at),
        "last_seen": _moment(line.last_seen_at),
        "times_seen": _amount(line.times_seen),
        "times": line.times_seen,
        "first_seen_run": line.first_seen_run,
        "causes": line.causes,
        "comment": line.comment,
    }


def _correction(line: t.CorrectionLine) -> dict:
    times = (
        ("applied", line.applied_at),
        ("rolled back", line.rolled_back_at),
        ("rejected", line.rejected_at),
    )
    return {
        "id": line.id,
        "break_id": line.break_id,
        "run_id": line.run_id,
        "type": line.type,
        "asset": line.asset,
        "target": line.target if line.target != line.asset else "",
        "field": line.field,
        "operation": line.operation,
        "original": _amount(line.original_value),
        "corrected": _amount(line.corrected_value),
        "delta": _amount(line.delta),
        "impact": _amount(line.impact_rc),
        "status": line.status,
        "origin": line.origin,
        "automatic": line.automatic,
        "policy_note": line.policy_note,
        "reason": line.reason,
        "created_by": line.created_by,
        "created_at": _moment(line.created_at),
        "approvers": line.approvers,
        "approved_at": _moment(line.approved_at),
        "times": [(name, _moment(moment)) for name, moment in times if moment is not None],
        "rejection_reason": line.rejection_reason,
    }


def _comment(line: t.CommentLine) -> dict:
    return {
        "break_id": line.break_id,
        "author": line.author,
        "at": _moment(line.created_at),
        "text": line.text,
    }


def _audit(line: t.AuditLine) -> dict:
    return {
        "sequence": line.sequence,
        "at": _moment(line.created_at),
        "actor": line.actor,
        "action": line.action,
        "object_type": line.object_type,
        "object_id": line.object_id,
        "hash": line.hash,
    }
