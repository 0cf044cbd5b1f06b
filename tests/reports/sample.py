"""A hand-built report content for the renderers' tests: every section filled, amounts to the
18th decimal place, and hostile text where users write it (a break comment, a correction's
reason and rejection)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext

from reports.content import types as t

HOSTILE = (
    '=HYPERLINK("http://x","y")',
    "@SUM(1)",
    "+cmd",
    "\tleading tab",
    "<script>alert(1)</script>",
    "-2+3",
    "\rcarriage",
)
TINY = Decimal("1.000000000000000001")  # a float makes it 1
WIDE = Decimal("123456789012.123456789012345678")
AT = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
SEVERITIES = ("critical", "high", "medium", "low")


def _figure(key, label, value, unit, definition, note=""):
    return t.Figure(key, label, value, unit, definition, note)


def break_line(n: int) -> t.BreakLine:
    with localcontext(prec=80):
        return _break_line(n)


def _break_line(n: int) -> t.BreakLine:
    severity = SEVERITIES[n % 4]
    value = TINY if n == 0 else WIDE if n == 1 else Decimal(n) / 7
    value = value.quantize(Decimal("1E-18")) if n > 1 else value
    return t.BreakLine(
        id=1000 + n, run_id=12, type="position", severity=severity, status="open",
        source="kraken", account="main", asset=f"A{n:05d}", entity=f"A{n:05d}",
        field="quantity", internal_value=value + 1, external_value=Decimal(1),
        difference=value, value_rc=value * 2, first_seen_at=AT - timedelta(hours=n % 24),
        last_seen_at=AT, times_seen=1 + n % 3, first_seen_run=10 + n % 3,
        causes=("quantity_mismatch",),
        comment=HOSTILE[n % len(HOSTILE)] if n < 2 * len(HOSTILE) else "",
    )  # fmt: skip


def correction_line(n: int) -> t.CorrectionLine:
    return t.CorrectionLine(
        id=500 + n, break_id=1000 + n, run_id=12, type="position", asset=f"A{n:05d}",
        target=f"A{n:05d}", field="quantity", operation="set",
        original_value=TINY + n, corrected_value=Decimal(1), delta=-(TINY + n - 1),
        impact_rc=WIDE if n == 0 else Decimal(n), status="applied" if n % 2 else "pending",
        origin="automatic" if n % 3 == 0 else "manual", automatic=n % 3 == 0,
        policy_note="within 100 USD and 1%" if n % 3 == 0 else "needs one approver",
        reason=HOSTILE[n % len(HOSTILE)], created_by="system" if n % 3 == 0 else "risk-ann",
        created_at=AT, approvers=() if n % 3 == 0 else ("risk-bob", "=cmd|' /C calc'!A0"),
        approved_at=AT, applied_at=AT + timedelta(minutes=1) if n % 2 else None,
        rolled_back_at=None, rejected_at=None,
        rejection_reason=HOSTILE[(n + 1) % len(HOSTILE)] if n == 4 else "",
    )  # fmt: skip


def sample_content(breaks: int = 40, corrections: int = 12) -> t.ReportContent:
    with localcontext(prec=80):  # 38-digit amounts: the default 28 digits would round sums
        return _content(breaks, corrections)


def _content(breaks: int, corrections: int) -> t.ReportContent:
    lines = tuple(break_line(n) for n in range(breaks))
    tallies = tuple(
        t.Tally(s, sum(1 for b in lines if b.severity == s),
                sum((b.value_rc for b in lines if b.severity == s), Decimal(0)))
        for s in SEVERITIES
    )  # fmt: skip
    total = sum((b.value_rc for b in lines), Decimal(0))
    match_rate = _figure("match_rate_count", "Match rate (by count)", Decimal("97.50"), "%",
                         "Items compared without a break, as a share of all compared.")  # fmt: skip
    var = _figure("value_at_risk", "Value at risk", total, "USD",
                  "The open breaks' absolute values summed.")  # fmt: skip
    flag = t.Flag("critical_open_past_cob", "critical",
                  "10 critical breaks are open past close of business (17:00 UTC).",
                  "critical_open", "10", "0 after 17:00 UTC")  # fmt: skip
    rec = t.Flag("frequent_field", "warning",
                 "Most breaks are on quantity: check the book's fills against the exchange's.",
                 "most_frequent_field", "40", "30% of breaks")  # fmt: skip
    return t.ReportContent(
        title="Reconciliation report: run 12 (position)",
        generated_at=AT + timedelta(hours=1),
        generated_by="finance-fay",
        reporting_currency="USD",
        scope=t.Scope(
            kind="run",
            description="Run 12 (position): book main@book against main@kraken",
            run_id=12,
            filters={"severity": "", "source": "", "type": "", "account": ""},
            runs=(
                t.RunLine(
                    12,
                    "position",
                    "succeeded",
                    "main@book #3",
                    "main@kraken #4",
                    "Default v2",
                    AT,
                    AT,
                    breaks,
                    1000,
                    3,
                ),
            ),
        ),
        rule_set_versions=("Default v2",),
        chain_head=t.ChainHead(4242, "ab" * 32),
        summary=t.Summary(
            key_figures=(
                var,
                match_rate,
                _figure("open_breaks", "Open breaks", breaks, "breaks", "Open breaks."),
            ),
            critical_issues=("10 critical breaks, 1,234.5 USD at risk",),
            top_recommendations=(rec,),
            regulatory_status="1 regulatory flag raised",
        ),
        by_severity=tallies,
        by_type=(t.Tally("position", breaks, total),),
        by_asset=tuple(t.Tally(b.asset, 1, b.value_rc) for b in lines[:20]),
        by_source=(t.Tally("kraken", breaks, total),),
        value_at_risk=total,
        exposures=tuple(
            t.Exposure(
                b.asset,
                1,
                b.value_rc,
                Decimal("2.5") if n % 5 else None,
                AT if n % 5 else None,
                n % 7 == 3,
            )
            for n, b in enumerate(lines[:20])
        ),
        patterns=t.Patterns(
            most_frequent_field=t.Tally("quantity", breaks, total),
            most_problematic_source=t.Tally("kraken", breaks, total),
            by_hour=tuple(sum(1 for b in lines if b.first_seen_at.hour == h) for h in range(24)),
            recurring=tuple(
                t.Recurring(b.id, b.first_seen_run, b.times_seen, b.asset, b.field, b.severity)
                for b in lines
                if b.times_seen > 1
            )[:10],
        ),
        performance=(
            match_rate,
            _figure(
                "time_to_resolve_median_critical",
                "Time to resolve, median (critical)",
                None,
                "hours",
                "From first seen to resolved.",
                "no resolved breaks",
            ),
            _figure(
                "data_quality_score",
                "Data quality score",
                Decimal("98.75"),
                "",
                "100 less the severity-weighted share of items in a break.",
            ),
        ),
        recommendations=(rec,),
        regulatory_flags=(flag,),
        breaks=lines,
        corrections=tuple(correction_line(n) for n in range(corrections)),
        comments=tuple(t.CommentLine(b.id, "risk-ann", AT, b.comment) for b in lines if b.comment),
        audit=tuple(
            t.AuditLine(
                4200 + n,
                AT,
                "risk-ann",
                "correction.approved",
                "correction",
                str(500 + n),
                f"{n:064x}",
            )
            for n in range(10)
        ),
        charts=(
            t.Chart(
                "by_severity",
                "Breaks by severity",
                "column",
                SEVERITIES,
                (t.Series("Breaks", tuple(x.count for x in tallies)),),
                "breaks",
            ),
            t.Chart(
                "by_asset",
                "Value at risk by asset (top 10)",
                "bar",
                tuple(b.asset for b in lines[:10]),
                (t.Series("USD", tuple(b.value_rc for b in lines[:10])),),
                "USD",
            ),
            t.Chart(
                "by_type",
                "Breaks by type",
                "pie",
                ("position",),
                (t.Series("Breaks", (breaks,)),),
                "breaks",
            ),
        ),
    )


def empty_content() -> t.ReportContent:
    """A period with no runs: every section empty, figures undefined."""
    full = sample_content(0, 0)
    return t.ReportContent(
        **{**full.__dict__,
           "scope": t.Scope(kind="period", description="1-7 December 2026: no runs",
                            period_from=date(2026, 12, 1), period_to=date(2026, 12, 7)),
           "exposures": (), "by_asset": (), "by_type": (), "by_source": (), "charts": (),
           "audit": (), "recommendations": (), "regulatory_flags": (),
           "summary": t.Summary((), (), (), "No regulatory flag raised")}
    )  # fmt: skip
