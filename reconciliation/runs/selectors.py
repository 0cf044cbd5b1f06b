"""Reading runs: one run as a user may see it, and its trade matches (stored by match_store)."""

from __future__ import annotations

from django.db import connection

from config.query import check_filters
from reconciliation.models import Run
from reconciliation.runs import match_store
from reconciliation.selectors import accessible


def access_run(user, run_id) -> Run:
    queryset = Run.objects.select_related(
        "internal_dataset__account__source", "external_dataset__account__source",
        "prices_dataset", "rule_set_version__rule_set", "created_by",
    )  # fmt: skip
    return accessible(user, queryset, run_id, "run")


def match_page(run: Run, *, after: str = "", size: int = 100) -> match_store.Page:
    """One page of a run's trade matches, by match id (see match_store.page)."""
    check_filters(after=after)  # a NUL would reach PostgreSQL as text
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
