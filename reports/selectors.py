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

from django.db import connection
from django.db.models import Q

from audit.models import AuditEvent
from corrections.models import Approval, Correction
from reconciliation import selectors as reconciliation
from reconciliation.book import selectors as book
from reconciliation.models import Run
from reconciliation.models.runs import SEVERITY_CHOICES, TYPE_CHOICES
from reports.content.rows import BreakRow

SUCCEEDED = Run.Status.SUCCEEDED
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


BREAK_ROWS = """
SELECT DISTINCT ON (o.break_record_id)
    b.id, o.run_id, b.type, o.severity, b.status, COALESCE(xs.code, ''), b.account, b.asset,
    b.entity, b.field, o.internal_value, o.external_value, o.difference, o.value_rc,
    b.first_seen_at, b.last_seen_at, b.times_seen, b.first_seen_run_id, b.causes::text,
    b.resolved_at, b.assignee_id IS NOT NULL
FROM reconciliation_breakobservation o
JOIN reconciliation_break b ON b.id = o.break_record_id
LEFT JOIN reconciliation_account xa ON xa.id = b.external_account_id
LEFT JOIN reconciliation_source xs ON xs.id = xa.source_id
WHERE o.run_id = ANY(%(runs)s) AND (%(severity)s = '' OR o.severity = %(severity)s)
ORDER BY o.break_record_id, o.run_id DESC
"""


def break_rows(run_ids: list[int], *, severity: str = "") -> list[BreakRow]:
    """The breaks the runs saw (each once), with the severity filter applied to what was seen."""
    if not run_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(BREAK_ROWS, {"runs": run_ids, "severity": severity})
        rows = cursor.fetchall()
    return [BreakRow(*row[:18], _causes(row[18]), row[19], row[20]) for row in rows]


def _causes(raw) -> tuple[str, ...]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return tuple(str(cause) for cause in value or ())


COMMENTS = """
SELECT c.break_record_id, u.username, c.created_at, c.text
FROM reconciliation_breakcomment c
JOIN auth_user u ON u.id = c.author_id
WHERE c.break_record_id = ANY(%(breaks)s)
ORDER BY c.created_at, c.id
"""


def comments(break_ids: list[int]) -> list[tuple]:
    """(break id, author, time, text) of every comment on the breaks, oldest first."""
    if not break_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(COMMENTS, {"breaks": break_ids})
        return cursor.fetchall()


CORRECTION_FIELDS = (
    "id",
    "break_record_id",
    "run_id",
    "type",
    "asset",
    "target",
    "field",
    "operation",
    "original_value",
    "corrected_value",
    "delta",
    "impact_rc",
    "status",
    "origin",
    "auto_approved",
    "policy_note",
    "reason",
    "created_by__username",
    "created_at",
    "approved_at",
    "applied_at",
    "rolled_back_at",
    "rejected_at",
    "rejection_reason",
    "content_hash",
    "break_record__severity",
)


def correction_rows(run_ids: list[int], *, severity: str = "") -> list[tuple]:
    """The runs' corrections (CORRECTION_FIELDS), oldest first; `severity`: of their break."""
    queryset = Correction.objects.filter(run_id__in=run_ids)
    if severity:
        queryset = queryset.filter(break_record__severity=severity)
    return list(queryset.order_by("id").values_list(*CORRECTION_FIELDS))


def approvers(corrections: list[tuple]) -> dict[int, list[tuple[str, datetime]]]:
    """{correction id: [(approver, time)]} of the approvals that count: those given to the
    correction's content as it stands (an edit voids the earlier ones)."""
    hashes = {row[0]: row[CORRECTION_FIELDS.index("content_hash")] for row in corrections}
    found: dict[int, list[tuple[str, datetime]]] = {}
    approvals = (
        Approval.objects.filter(correction_id__in=list(hashes))
        .order_by("created_at", "id")
        .values_list("correction_id", "approver__username", "created_at", "content_hash")
    )
    for correction_id, approver, created_at, content_hash in approvals.iterator(chunk_size=5000):
        if hashes[correction_id] == content_hash:
            found.setdefault(correction_id, []).append((approver, created_at))
    return found


AUDIT_FIELDS = (
    "sequence",
    "created_at",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "hash",
)


def audit_rows(*, run_ids: list[int], correction_ids: list[int]) -> list[tuple]:
    """The audit trail of the runs and of their corrections (AUDIT_FIELDS), in chain order."""
    wanted = Q(object_type="run", object_id__in=[str(pk) for pk in run_ids])
    if correction_ids:
        wanted |= Q(object_type="correction", object_id__in=[str(pk) for pk in correction_ids])
    return list(AuditEvent.objects.filter(wanted).order_by("sequence").values_list(*AUDIT_FIELDS))


def chain_head() -> tuple[int, str]:
    """The audit chain's head now: (sequence, hash); (0, "") while the log is empty."""
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    return head or (0, "")


def quotes(run: Run) -> dict[str, tuple[Decimal | None, datetime | None, bool]]:
    """{asset: (price, its time, stale)} as the run valued with (reconciliation.book)."""
    definition = reconciliation.rule_definition(run.rule_set_version)
    return book.run_quotes(run, definition)


def book_value(run: Run) -> Decimal | None:
    """The value of the run's account's holdings at its time (None: unknown)."""
    definition = reconciliation.rule_definition(run.rule_set_version)
    return book.portfolio_value(run, book.run_prices(run, definition))


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
