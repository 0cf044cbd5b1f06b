"""Reading breaks and runs: the filters the breaks list, its export and the API share."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from reconciliation import match_store
from reconciliation.models import Break, Run
from reconciliation.selectors import accessible

FILTERS = ("type", "severity", "status", "asset", "account", "source", "run", "age", "q")
SEVERITIES = ("critical", "high", "medium", "low")
SORTS = {
    "newest": ("-id",),
    "oldest": ("id",),
    "value": ("-value_rc", "-id"),
    "age": ("first_seen_at", "id"),
}


def breaks(params: dict) -> QuerySet[Break]:
    """Breaks matching the filters (unknown or empty filters are ignored)."""
    queryset = Break.objects.all()
    for name in ("type", "severity", "status"):
        values = [v for v in str(params.get(name, "")).split(",") if v]
        if values:
            queryset = queryset.filter(**{f"{name}__in": values})
    if params.get("asset"):
        queryset = queryset.filter(asset=str(params["asset"]).upper())
    if params.get("account"):
        queryset = queryset.filter(account=params["account"])
    if params.get("source"):
        source = params["source"]
        queryset = queryset.filter(
            Q(internal_account__source__code=source) | Q(external_account__source__code=source)
        )
    if str(params.get("run", "")).isdigit():
        queryset = queryset.filter(observations__run_id=int(params["run"]))
    if str(params.get("age", "")).isdigit():
        queryset = queryset.filter(
            first_seen_at__lte=timezone.now() - timedelta(days=int(params["age"]))
        )
    if params.get("q"):
        term = str(params["q"]).strip()
        queryset = queryset.filter(
            Q(entity__icontains=term) | Q(break_key__icontains=term) | Q(asset=term.upper())
        )
    return queryset


def sorted_breaks(params: dict) -> QuerySet[Break]:
    order = SORTS.get(params.get("sort", "newest"), SORTS["newest"])
    return breaks(params).order_by(*order).select_related("assignee")


def access_break(user, break_id) -> Break:
    """The break if `user` may see it; a missing and a forbidden one give the same 404."""
    queryset = Break.objects.select_related(
        "assignee", "first_seen_run", "last_seen_run", "internal_account__source",
        "external_account__source",
    )  # fmt: skip
    return accessible(user, queryset, break_id, "break")


def access_run(user, run_id) -> Run:
    queryset = Run.objects.select_related(
        "internal_dataset__account__source", "external_dataset__account__source",
        "prices_dataset", "rule_set_version__rule_set", "created_by",
    )  # fmt: skip
    return accessible(user, queryset, run_id, "run")


def match_page(run: Run, *, after: str = "", size: int = 100) -> match_store.Page:
    """One page of a run's trade matches, by match id (see match_store.page)."""
    with connection.cursor() as cursor:
        return match_store.page(cursor, run.pk, after=after, size=size)


def iter_matches(run: Run):
    """A run's trade matches one by one, in match id order, as dicts."""
    with connection.cursor() as cursor:
        yield from match_store.iterate(cursor, run.pk)


def run_matches(run: Run):
    """All of a run's trade matches as a frame, in match id order."""
    with connection.cursor() as cursor:
        return match_store.all_matches(cursor, run.pk)


def overview_figures() -> dict:
    """Open breaks by severity and the latest run of each type, for the overview."""
    from django.db.models import Count

    live = Break.objects.filter(status__in=["open", "investigating"])
    by_severity = dict(live.values_list("severity").annotate(n=Count("id")))
    latest = {}
    for run in Run.objects.order_by("type", "-id").distinct("type"):
        latest[run.type] = run
    return {
        "open_by_severity": [(s, by_severity.get(s, 0)) for s in SEVERITIES],
        "latest_runs": [latest[t] for t in sorted(latest)],
    }
