"""What a report reads: the runs in its scope, their breaks, corrections, comments and audit
trail, the prices they were valued with, and the audit chain's head. Reads only.

The large reads (a run's breaks, 100,000 and more) are one SQL statement each, fetched as
tuples: the report's content is built from plain rows, not model instances.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import psycopg
from django.db import connection, transaction
from django.db.models import Q

from audit.models import AuditEvent
from config import copy_insert
from reconciliation import selectors as reconciliation
from reconciliation.book import selectors as book
from reconciliation.models import Run
from reconciliation.models.runs import SEVERITY_CHOICES, TYPE_CHOICES

SUCCEEDED = Run.Status.SUCCEEDED
REPORT_WORK_MEM = "128MB"
TYPES = tuple(name for name, _label in TYPE_CHOICES)
SEVERITIES = tuple(name for name, _label in SEVERITY_CHOICES)  # least severe first


@dataclass(frozen=True)
class ScopeRun:
    """A run in a report's scope, with what the figures need of it."""

    run: Run
    reporting_currency: str
    compared: int  # items the run compared (docs/reports.md, "Items compared")


def period_bounds(period_from: date, period_to: date) -> tuple[datetime, datetime]:
    """The period's first moment and the moment after its last day (UTC)."""
    start = datetime.combine(period_from, time.min, tzinfo=UTC)
    return start, datetime.combine(period_to + timedelta(days=1), time.min, tzinfo=UTC)


def scope_runs(
    *,
    run_id: int | None = None,
    period_from: date | None = None,
    period_to: date | None = None,
    filters: dict | None = None,
) -> list[ScopeRun]:
    """The run asked for, or the succeeded runs that finished in the period and match the
    filters (type; source and account: either side's), oldest first."""
    filters = filters or {}
    queryset = Run.objects.select_related(
        "internal_dataset__account__source",
        "external_dataset__account__source",
        "internal_dataset__source",
        "external_dataset__source",
        "rule_set_version__rule_set",
    ).order_by("finished_at", "id")
    if run_id is not None:
        queryset = queryset.filter(pk=run_id)
    else:
        start, end = period_bounds(period_from, period_to)
        queryset = queryset.filter(status=SUCCEEDED, finished_at__gte=start, finished_at__lt=end)
    if filters.get("type"):
        queryset = queryset.filter(type=filters["type"])
    if filters.get("source"):
        code = filters["source"]
        queryset = queryset.filter(
            Q(internal_dataset__source__code=code) | Q(external_dataset__source__code=code)
        )
    if filters.get("account"):
        code = filters["account"]
        queryset = queryset.filter(
            Q(internal_dataset__account__code=code) | Q(external_dataset__account__code=code)
        )
    return [_scope_run(run) for run in queryset]


MATCHED_TYPES = ("trades", "fees")  # runs that pair records, and count their matches


def _scope_run(run: Run) -> ScopeRun:
    definition = run.rule_set_version.definition or {}
    breaks = run.break_count or 0
    if run.type in MATCHED_TYPES and run.match_count is not None:
        compared = run.match_count + breaks
    else:
        compared = max(run.internal_dataset.row_count, run.external_dataset.row_count, breaks)
    currency = definition.get("reporting_currency") or ""
    return ScopeRun(run, currency, compared)


def dataset_label(dataset) -> str:
    """A dataset as the product shows it: its account (or source) and number."""
    owner = dataset.account or dataset.source
    return f"{owner} #{dataset.pk}"


# Each break once (the latest run in scope that saw it), by id. The lists' order (most severe,
# most value, oldest) is the content's (figures.in_list_order): sorting a hundred thousand
# numerics here took longer than Python does, and the latest comment comes from `comments`,
# read anyway, rather than a lookup per break. The amounts come as text, made Decimals here:
# twice as fast as psycopg's binary numeric, and as exact.
BREAK_ROWS = """
SELECT DISTINCT ON (o.break_record_id)
    b.id, o.run_id, b.type, o.severity, b.status, COALESCE(xs.code, '') AS source, b.account,
    b.asset, b.entity, b.field, o.internal_value::text, o.external_value::text,
    o.difference::text, o.value_rc::text, b.first_seen_at, b.last_seen_at, b.times_seen,
    b.first_seen_run_id, b.causes::text, b.resolved_at, b.assignee_id IS NOT NULL AS assigned
FROM reconciliation_breakobservation o
JOIN reconciliation_break b ON b.id = o.break_record_id
LEFT JOIN reconciliation_account xa ON xa.id = b.external_account_id
LEFT JOIN reconciliation_source xs ON xs.id = xa.source_id
WHERE o.run_id = ANY(%(runs)s) AND (%(severity)s = '' OR o.severity = %(severity)s)
ORDER BY o.break_record_id, o.run_id DESC
"""


def _fetch(sql: str, params: dict) -> list[tuple]:
    """All rows, in PostgreSQL's binary form (_stream)."""
    return [row for batch in _stream(sql, params) for row in batch]


def _stream(sql: str, params: dict, batch: int = 5000):
    """Rows in batches, in PostgreSQL's binary form: numbers and times are loaded in C
    (Django's text loader of times is Python's, a second per hundred thousand rows), and a
    server-side cursor hands them over a few thousand at a time, so a hundred thousand
    breaks are never held twice (as rows and as the content's lines)."""
    copy_insert.settle()  # its queries bypass Django's cursor, which a pipeline watches
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection
        with psycopg.Cursor(raw) as cursor:
            # Sorting a hundred thousand breaks in memory, not in temporary files (the
            # default 4 MB would spill): for this transaction only.
            cursor.execute("SELECT set_config('work_mem', %s, true)", [REPORT_WORK_MEM])
        with psycopg.ServerCursor(raw, "report_rows") as cursor:
            cursor.execute(sql, params, binary=True)
            while rows := cursor.fetchmany(batch):
                yield rows


def break_rows(
    run_ids: list[int], *, severity: str = "", comments: dict[int, str] | None = None,
    line=lambda *values: values,
) -> list:  # fmt: skip
    """The breaks the runs saw (each once, with the latest of those runs' values), the
    severity filter applied to what was seen, by id; each made by `line` from BREAK_ROWS'
    columns with the break's text from `comments` ({break id: latest comment}) after the
    causes (the content's BreakLine: made as they come, never held twice)."""
    if not run_ids:
        return []
    comments = comments or {}
    causes: dict[str, tuple[str, ...]] = {}  # a few distinct lists among many breaks
    word = {}.setdefault  # words many breaks repeat (a type, a status, a field): one string each
    lines = []
    for rows in _stream(BREAK_ROWS, {"runs": run_ids, "severity": severity}):
        for r in rows:
            found = causes.get(r[18])
            if found is None:
                found = causes[r[18]] = _causes(r[18])
            asset = r[7]
            entity = asset if r[8] == asset else r[8]  # an entity named as its asset
            internal, external, difference, value = r[10], r[11], r[12], r[13]
            lines.append(line(
                r[0], r[1], word(r[2], r[2]), word(r[3], r[3]), word(r[4], r[4]),
                word(r[5], r[5]), word(r[6], r[6]), asset, entity, word(r[9], r[9]),
                None if internal is None else Decimal(internal),
                None if external is None else Decimal(external),
                None if difference is None else Decimal(difference),
                None if value is None else Decimal(value),
                r[14], r[15], r[16], r[17], found, comments.get(r[0], ""), r[19], r[20],
            ))  # fmt: skip
    return lines


def _causes(raw) -> tuple[str, ...]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return tuple(str(cause) for cause in value or ())


# The breaks chosen as BREAK_ROWS chooses them (not a hundred thousand ids sent back).
COMMENTS = """
SELECT c.break_record_id, u.username, c.created_at, c.text
FROM reconciliation_breakcomment c
JOIN auth_user u ON u.id = c.author_id
WHERE c.break_record_id IN (
    SELECT break_record_id FROM reconciliation_breakobservation
    WHERE run_id = ANY(%(runs)s) AND (%(severity)s = '' OR severity = %(severity)s))
ORDER BY c.created_at, c.id
"""


def comments(run_ids: list[int], *, severity: str = "") -> list[tuple]:
    """(break id, author, time, text) of every comment on the breaks `break_rows` gives for
    the same runs and severity, oldest first."""
    if not run_ids:
        return []
    return _fetch(COMMENTS, {"runs": run_ids, "severity": severity})


CORRECTION_ROWS = """
SELECT c.id, c.break_record_id, c.run_id, c.type, c.asset, c.target, c.field, c.operation,
    c.original_value, c.corrected_value, c.delta, c.impact_rc, c.status, c.origin,
    c.auto_approved, c.policy_note, c.reason, COALESCE(u.username, ''), c.created_at,
    c.approved_at, c.applied_at, c.rolled_back_at, c.rejected_at, c.rejection_reason
FROM corrections_correction c
LEFT JOIN auth_user u ON u.id = c.created_by_id
JOIN reconciliation_breakobservation o
    ON o.run_id = c.run_id AND o.break_record_id = c.break_record_id
WHERE c.run_id = ANY(%(runs)s) AND (%(severity)s = '' OR o.severity = %(severity)s)
ORDER BY c.id
"""
# The approvals that count: those given to the correction's content as it stands (an edit
# voids the earlier ones).
APPROVERS = """
SELECT a.correction_id, u.username
FROM corrections_approval a
JOIN corrections_correction c ON c.id = a.correction_id AND c.content_hash = a.content_hash
JOIN auth_user u ON u.id = a.approver_id
WHERE c.run_id = ANY(%(runs)s)
ORDER BY a.created_at, a.id
"""


def correction_rows(run_ids: list[int], *, severity: str = "") -> list[tuple]:
    """The runs' corrections (CORRECTION_ROWS' columns), oldest first; `severity`: of their
    break."""
    if not run_ids:
        return []
    return _fetch(CORRECTION_ROWS, {"runs": run_ids, "severity": severity})


def approvers(run_ids: list[int]) -> dict[int, list[str]]:
    """{correction id: [approver]} of the runs' corrections, in the order they approved."""
    found: dict[int, list[str]] = {}
    for correction_id, approver in _fetch(APPROVERS, {"runs": run_ids}) if run_ids else ():
        found.setdefault(correction_id, []).append(approver)
    return found


AUDIT_ROWS = """
SELECT sequence, created_at, actor_label, action, object_type, object_id, hash
FROM audit_auditevent
WHERE sequence <= %(head)s
  AND ((object_type = 'run' AND object_id = ANY(%(runs)s))
       OR (object_type = 'correction' AND object_id = ANY(%(corrections)s)))
ORDER BY sequence
"""


def audit_rows(*, run_ids: list[int], correction_ids: list[int], head: int) -> list[tuple]:
    """The audit trail of the runs and of their corrections up to the chain's `head` (the one
    the report prints: what it lists is what that head anchors), in chain order."""
    if not run_ids:
        return []
    return _fetch(
        AUDIT_ROWS,
        {
            "runs": [str(pk) for pk in run_ids],
            "head": head,
            "corrections": [str(pk) for pk in correction_ids],
        },
    )


def chain_head() -> tuple[int, str]:
    """The audit chain's head now: (sequence, hash); (0, "") while the log is empty."""
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    return head or (0, "")


def quotes(run: Run) -> dict[str, tuple[Decimal | None, datetime | None, bool]]:
    """{asset: (price, its time, stale)} as the run valued with (reconciliation.book)."""
    definition = reconciliation.rule_definition(run.rule_set_version)
    return book.run_quotes(run, definition)


def book_value(run: Run, quoted: dict[str, tuple]) -> Decimal | None:
    """The value of the run's account's holdings at its time, with the run's `quotes`
    (None: unknown)."""
    if not any(price is not None for price, _as_of, _stale in quoted.values()):
        return None  # no price known
    return book.portfolio_value(run, quoted)  # its None prices count nothing


def run_status(run_id: int) -> str | None:
    """The run's status (None: no such run)."""
    return Run.objects.filter(pk=run_id).values_list("status", flat=True).first()


# --- The reports pages ------------------------------------------------------------------------


def access_report(user, report_id):
    """The report if `user` may see reports; a missing and a forbidden one give the same 404."""
    from reports.models import Report

    queryset = Report.objects.select_related("requested_by", "run", "pack_delivery__pack")
    return reconciliation.accessible(user, queryset, report_id, "report", "view_reports")


def access_pack(user, pack_id):
    from reports.models import ReportPack

    return reconciliation.accessible(
        user, ReportPack.objects.all(), pack_id, "report pack", "view_reports"
    )


def reports(*, status: str = "", format_: str = "", run_id: int | None = None):
    """Reports, newest first, narrowed by status, format and run."""
    from reports.models import Report

    queryset = Report.objects.select_related("requested_by", "pack_delivery__pack")
    if status:
        queryset = queryset.filter(status=status)
    if format_:
        queryset = queryset.filter(format=format_)
    if run_id is not None:
        queryset = queryset.filter(run_id=run_id)
    return queryset.order_by("-id")


def report_page(filters: dict, *, before: int | None = None, size: int = 50):
    """One page of reports (ids below `before`), and where the next starts (None: the last)."""
    queryset = reports(
        status=filters.get("status", ""),
        format_=filters.get("format", ""),
        run_id=filters.get("run"),
    )
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    found = list(queryset[: size + 1])
    return found[:size], (found[size - 1].pk if len(found) > size else None)


def packs():
    from reports.models import ReportPack

    return ReportPack.objects.select_related("created_by").order_by("name")


def pack_deliveries(limit: int = 20):
    from reports.models import PackDelivery

    return PackDelivery.objects.select_related("pack").prefetch_related("reports")[:limit]


def source_codes() -> list[str]:
    from reconciliation.models import Source

    return list(Source.objects.order_by("code").values_list("code", flat=True))


def reportable_runs(limit: int = 200):
    """The latest succeeded runs, for the report form's choice."""
    return Run.objects.filter(status=SUCCEEDED).order_by("-id")[:limit]
