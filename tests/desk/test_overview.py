"""The overview (desk/): every figure counts what the list it links to shows, for each role;
the approvals waiting are the person's own; empty states say what to do next; a running run is
polled."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import QueryDict
from django.utils import timezone

from corrections import selectors as correction_selectors
from corrections import services as corrections
from desk import selectors
from reconciliation.breaks import filters as break_filters
from reconciliation.breaks import selectors as break_selectors
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset
from reconciliation.runs import services as runs
from tests.demo_runs import finished_position_run

pytestmark = pytest.mark.django_db

LINK = re.compile(r'<a href="([^"]+)"[^>]*data-count="(\d+)"')


@pytest.fixture
def worked(make_user):
    """A finished run whose breaks span every age bucket, one resolved today, and a pending
    correction proposed by `proposer`."""
    run = finished_position_run()
    found = list(Break.objects.order_by("id"))
    now = timezone.now()
    for n, brk in enumerate(found):
        brk.first_seen_at = now - timedelta(days=(0, 2, 5, 10, 40)[n % 5], hours=1)
        brk.save(update_fields=["first_seen_at"])
    found[0].status, found[0].resolved_at = "resolved", now
    found[0].save(update_fields=["status", "resolved_at"])
    proposer = make_user("risk")
    largest = Break.objects.exclude(pk=found[0].pk).order_by("-value_rc").first()
    correction = corrections.propose(largest, by=proposer, reason="the book missed a fill")
    assert correction.status == "pending"  # too large to approve itself: it needs approvers
    return {"run": run, "proposer": proposer, "correction": correction, "breaks": found}


def _links(page: str) -> list[tuple[str, dict, int]]:
    return [
        (urlsplit(html.unescape(href)).path, parse_qs(urlsplit(html.unescape(href)).query), int(n))
        for href, n in LINK.findall(page)
    ]


def _listed(path: str, query: dict, user) -> int:
    params = QueryDict(mutable=True)
    for name, values in query.items():
        params.setlist(name, values)
    if path == "/breaks/":
        return break_selectors.breaks(break_filters.read(params)).count()
    assert path == "/corrections/", path
    filters = correction_selectors.read(params, default_status="pending")
    return correction_selectors.corrections(filters, user=user).count()


@pytest.mark.parametrize("role", ["risk", "finance", "admin"])
def test_every_figure_counts_what_its_link_lists(client_as, worked, role):
    client = client_as(role)
    response = client.get("/")
    assert response.status_code == 200
    links = _links(response.content.decode())
    user = response.wsgi_request.user
    assert len(links) >= 15  # severities, types, the charts' bars, the approvals
    for path, query, shown in links:
        assert _listed(path, query, user) == shown, (path, query)
    ages = [
        n for path, query, n in links
        if path == "/breaks/" and ("within" in query or query.get("age") == ["30"])
    ]  # fmt: skip
    assert len(ages) == len(selectors.AGE_BUCKETS)
    assert sum(ages) == selectors.open_breaks().total and sum(map(bool, ages)) >= 3


def test_open_breaks_are_counted_and_valued_once_per_grouping(worked):
    found = selectors.open_breaks()
    live = Break.objects.filter(status__in=["open", "investigating"])
    assert found.total == live.count() == len(worked["breaks"]) - 1
    for groups in (found.by_severity, found.by_type, found.by_age):
        assert sum(g.count for g in groups) == found.total
        assert sum(sum(g.values.values()) for g in groups) == sum(
            abs(b.value_rc) for b in live if b.value_rc is not None
        )
    assert [g.key for g in found.by_severity] == list(break_filters.SEVERITIES)


def test_the_days_count_breaks_found_and_resolved_in_utc_days(worked):
    days = selectors.per_day()
    assert len(days) == selectors.TREND_DAYS and days[-1].day == timezone.now().date()
    assert days[-1].resolved == 1
    recent = Break.objects.filter(first_seen_at__date__gte=days[0].day).count()
    assert sum(d.found for d in days) == recent > 0


def test_the_approvals_waiting_are_the_persons_own(client_as, worked, make_user):
    proposer = worked["proposer"]
    other = make_user("risk")
    theirs = selectors.approvals(proposer)
    assert (theirs.pending, theirs.waiting_for_me, theirs.mine_pending) == (1, 0, 1)
    mine = selectors.approvals(other)
    assert (mine.pending, mine.waiting_for_me, mine.mine_pending) == (1, 1, 0)
    corrections.approve(worked["correction"], by=other)
    assert selectors.approvals(other).waiting_for_me == 0  # approved already: another's turn
    finance = selectors.approvals(make_user("finance"))
    assert finance.waiting_for_me is None  # finance does not approve
    page = client_as("finance").get("/").content.decode()
    assert "waiting for your approval" not in page and "pending approval" in page


def test_a_new_desk_says_what_to_do_next(client_as):
    page = client_as("risk").get("/").content.decode()
    assert "Getting started" in page and 'href="/datasets/upload/"' in page
    assert "No runs yet" in page and "No open breaks" in page
    assert "Nothing to show yet" in page  # the charts, empty
    finance = client_as("finance").get("/").content.decode()
    assert "Someone in risk uploads" in finance and 'href="/datasets/upload/"' not in finance


def test_the_latest_runs_are_polled_while_one_is_running(client_as):
    ids = demo_data.load()
    queued = runs.start_run(
        type="position",
        internal=Dataset.objects.get(pk=ids["book balances"]),
        external=Dataset.objects.get(pk=ids["kraken ledgers"]),
    )
    client = client_as("risk")
    part = client.get("/?part=runs").content.decode()
    assert 'hx-trigger="every 2s"' in part and f"run {queued.pk}" in part
    assert "<html" not in part  # the fragment only
    from reconciliation.runs import execution

    execution.execute_run(queued.pk)
    assert "hx-trigger" not in client.get("/?part=runs").content.decode()


def test_someone_without_a_role_sees_no_overview(make_user, client):
    client.force_login(make_user())
    assert client.get("/").status_code == 403


def test_a_change_to_the_breaks_shows_at_once_though_the_figures_are_kept(worked, make_user):
    from reconciliation.breaks import workflow

    before, _days, _as_of = selectors.break_figures()
    kept, _days, _as_of = selectors.break_figures()
    assert kept.total == before.total  # the same minute and chain head: read from the cache
    live = Break.objects.filter(status="open").order_by("id").first()
    workflow.accept([live.pk], reason="known timing difference", by=make_user("risk"))
    after, _days, _as_of = selectors.break_figures()
    assert after.total == before.total - 1


def test_without_the_cache_the_figures_are_computed(worked, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2},
        }
    }
    from django.core.cache import cache
    from redis.exceptions import RedisError

    with pytest.raises(RedisError):
        cache.get("anything")  # the cache really is down for this test
    found, _days, _as_of = selectors.break_figures()
    assert found.total == Break.objects.filter(status__in=["open", "investigating"]).count()
