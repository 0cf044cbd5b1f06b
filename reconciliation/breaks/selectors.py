"""Reading breaks: the filters the breaks list, its export and the API share."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.access import holders_of
from reconciliation.breaks import filters as break_filters
from reconciliation.models import Break
from reconciliation.selectors import accessible


def breaks(filters: dict) -> QuerySet[Break]:
    """Breaks matching checked filters (break_filters.read); empty filters are not applied."""
    queryset = Break.objects.all()
    for name in ("type", "severity", "status"):
        if filters.get(name):
            queryset = queryset.filter(**{f"{name}__in": filters[name]})
    if filters.get("asset"):
        queryset = queryset.filter(asset=filters["asset"])
    if filters.get("account"):
        queryset = queryset.filter(account=filters["account"])
    if filters.get("source"):
        source = filters["source"]
        queryset = queryset.filter(
            Q(internal_account__source__code=source) | Q(external_account__source__code=source)
        )
    if filters.get("run") is not None:
        queryset = queryset.filter(observations__run_id=filters["run"])
    if filters.get("age") is not None:
        queryset = queryset.filter(
            first_seen_at__lte=timezone.now() - timedelta(days=filters["age"])
        )
    if filters.get("within") is not None:
        queryset = queryset.filter(
            first_seen_at__gt=timezone.now() - timedelta(days=filters["within"])
        )
    if filters.get("seen_on") is not None:
        queryset = queryset.filter(first_seen_at__range=day_bounds(filters["seen_on"]))
    if filters.get("resolved_on") is not None:
        queryset = queryset.filter(resolved_at__range=day_bounds(filters["resolved_on"]))
    if filters.get("q"):
        term = filters["q"]
        # A match's break names the exchange's ids (entity, key); the book's are in its details.
        queryset = queryset.filter(
            Q(entity__icontains=term) | Q(break_key__icontains=term) | Q(asset=term.upper())
            | Q(details__internal_ids__contains=[term])
        )  # fmt: skip
    return queryset


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A UTC day's first and last moment (the figures' days are UTC days)."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1) - timedelta(microseconds=1)


# What a list of breaks shows beside each: who works it, and both sides' accounts by name.
LISTED_WITH = ("assignee", "internal_account__source", "external_account__source")


def sorted_breaks(filters: dict) -> QuerySet[Break]:
    order = break_filters.SORTS[filters.get("sort") or "newest"]
    return breaks(filters).order_by(*order).select_related(*LISTED_WITH)


def break_page(filters: dict, *, size: int) -> tuple[list[Break], int | None]:
    """One page of the sorted breaks, and the id the next page starts after (None: the last).

    Newest first pages by keyset (`after`: ids below it), so a deep page costs what the first
    does: no OFFSET. The other sorts show their first page only.
    """
    queryset = sorted_breaks(filters)
    newest = (filters.get("sort") or "newest") == "newest"
    if newest and filters.get("after") is not None:
        queryset = queryset.filter(pk__lt=filters["after"])
    page = list(queryset[: size + 1])
    return page[:size], page[size - 1].pk if len(page) > size else None


def workers() -> QuerySet:
    """Active people who may work breaks: whom a break can be assigned to."""
    return holders_of("work_breaks")


def observations(item: Break, limit: int = 50) -> list:
    """The break's last `limit` observations, newest run first."""
    return list(item.observations.select_related("run").order_by("-run_id")[:limit])


def comments(item: Break):
    return item.comments.select_related("author")


def access_break(user, break_id) -> Break:
    """The break if `user` may see it; a missing and a forbidden one give the same 404."""
    queryset = Break.objects.select_related(
        "assignee", "first_seen_run", "last_seen_run", "internal_account__source",
        "external_account__source",
    )  # fmt: skip
    return accessible(user, queryset, break_id, "break")
