"""Breaks filters: one definition, checked the same through the page, the CSV export and the API."""

import csv
import io
import re
from html import unescape
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from reconciliation.breaks import filters as break_filters
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db

# Values each filter must refuse. Every filter of the form must appear here (see the test below):
# a filter added without a check of its own fails that test.
BAD = {
    "type": ["nope", "position,nope"],
    "severity": ["urgent"],
    "status": ["closed"],
    "asset": ["A" * 41, "BT\x00C"],
    "account": ["a" * 101, "ma\x00in"],
    "source": ["no-such-source", "x" * 51],
    "run": ["abc", "-5", "0", "1.5", "9" * 30],
    "age": ["abc", "-5", "1000000", "9" * 30],
    "within": ["abc", "0", "1000000"],
    "seen_on": ["2026-13-01", "yesterday"],
    "resolved_on": ["2026-02-30", "\x00"],
    "q": ["x" * 301, "ETH\x00"],
    "sort": ["cheapest"],
    "after": ["abc", "-1", "9" * 30],
}
CASES = [(name, value) for name, values in BAD.items() for value in values]


@pytest.fixture
def finished_run(db, make_user):
    ids = demo_data.load()
    dataset = Dataset.objects.get
    run = runs.start_run(
        type="position", internal=dataset(pk=ids["book balances"]),
        external=dataset(pk=ids["kraken ledgers"]), prices=dataset(pk=ids["prices"]),
        rule_set_version=None, by=make_user("risk"),
    )  # fmt: skip
    run_execution.execute_run(run.pk)
    assert Break.objects.filter(type="position").exists()
    return run


@pytest.fixture
def doors(make_user):
    page = Client()
    page.force_login(make_user("risk"))  # who sees the list's checkboxes
    api = APIClient()
    api.force_authenticate(make_user("finance"))
    return page, api


def test_every_filter_is_checked_here():
    assert set(BAD) == set(break_filters.BreakFilters.base_fields)
    assert set(break_filters.FILTERS) <= set(BAD)


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v[:12]!r}" for n, v in CASES])
def test_a_bad_filter_is_refused_by_every_door(finished_run, doors, name, value):
    page, api = doors
    shown = page.get("/breaks/", {name: value})
    assert shown.status_code == 400
    html = shown.content.decode()
    if "\x00" in value:
        _refused_before_the_view(page, api, name, value, html)
        return
    assert 'id="filter-errors"' in html
    assert 'name="ids"' not in html and "/breaks/export.csv" not in html  # no list, no export
    listed = api.get("/api/breaks/", {name: value})
    assert listed.status_code == 400
    assert listed.json()["code"] == "invalid_filters" and name in listed.json()["fields"]
    exported = page.get("/breaks/export.csv", {name: value})
    assert exported.status_code == 400 and exported["Content-Type"] == "application/json"
    assert name in exported.json()["fields"]


def _refused_before_the_view(page, api, name, value, html):
    """A NUL is refused by the middleware (config/request_text.py) before any door's view: the
    error page, with a link to the list without that filter, and the API's 400 naming it."""
    assert f"These filters cannot be applied: {name}." in html
    assert 'href="/breaks/?' in html or 'href="/breaks/"' in html
    assert 'name="ids"' not in html
    listed = api.get("/api/breaks/", {name: value})
    assert listed.status_code == 400
    assert listed.json()["fields"] == {name: ["must not contain a NUL character"]}
    exported = page.get("/breaks/export.csv", {name: value})
    assert exported.status_code == 400
    assert f"cannot be applied: {name}." in exported.content.decode()


def test_the_page_names_the_bad_filter_and_its_value(finished_run, doors):
    page, _ = doors
    html = page.get("/breaks/", {"age": "1000000", "severity": "high"}).content.decode()
    assert "older than (days)" in html and "1000000" in html
    assert "36500" in html  # what the limit is


@pytest.mark.parametrize("age", ["0", str(break_filters.MAX_AGE_DAYS)])
def test_ages_at_the_limits_are_applied(finished_run, doors, age):
    page, api = doors
    expected = Break.objects.count() if age == "0" else 0
    assert page.get("/breaks/", {"age": age}).status_code == 200
    assert len(api.get("/api/breaks/", {"age": age}).json()["results"]) == expected
    assert page.get("/breaks/export.csv", {"age": age})["X-Row-Count"] == str(expected)


def test_good_filters_still_filter_alike_through_every_door(finished_run, doors):
    page, api = doors
    params = {"severity": "critical,high", "run": str(finished_run.pk), "source": "kraken"}
    expected = set(
        Break.objects.filter(severity__in=["critical", "high"]).values_list("pk", flat=True)
    )
    assert expected
    listed = {b["id"] for b in api.get("/api/breaks/", params).json()["results"]}
    exported = b"".join(page.get("/breaks/export.csv", params).streaming_content).decode()
    rows = {int(r["break_id"]) for r in csv.DictReader(io.StringIO(exported))}
    html = page.get("/breaks/", params).content.decode()
    shown = {
        pk for pk in Break.objects.values_list("pk", flat=True) if f'href="/breaks/{pk}/"' in html
    }
    assert listed == rows == shown == expected


def listed_ids(html: str) -> set[int]:
    """The breaks a list page shows (their checkboxes)."""
    return {int(pk) for pk in re.findall(r'name="ids" value="(\d+)"', html)}


def exported_ids(response) -> set[int]:
    text = b"".join(response.streaming_content).decode()
    return {int(row["break_id"]) for row in csv.DictReader(io.StringIO(text))}


@pytest.mark.parametrize("term", ["a&b=c", "x&status=resolved", "&type=position", "50%#top"])
def test_export_this_view_downloads_the_rows_the_page_shows(finished_run, doors, term):
    """A search holding `&`, `=`, `%` or `#` stays one search in the export link.

    Unencoded, "x&status=resolved" would export q="x" and status=resolved: the resolved break
    that only holds an "x", which the page does not show.
    """
    page, _ = doors
    searched, decoy, *_ = Break.objects.filter(type="position").order_by("pk")
    Break.objects.filter(pk=searched.pk).update(entity=f"desk {term} 1")
    Break.objects.filter(pk=decoy.pk).update(
        entity="x a b c", status="resolved", resolved_at=timezone.now()
    )
    html = page.get("/breaks/", {"q": term}).content.decode()
    start = html.index("/breaks/export.csv?")
    link = unescape(html[start : html.index('"', start)])
    assert parse_qs(urlparse(link).query) == {"q": [term]}
    exported = page.get(link)
    shown = listed_ids(html)
    assert shown == {searched.pk}
    assert exported_ids(exported) == shown and exported["X-Row-Count"] == "1"


@pytest.mark.parametrize("size", ["abc", "0", "-1", "1001", "9" * 30])
def test_a_bad_page_size_is_refused_by_the_api(db, doors, size):
    _, api = doors
    response = api.get("/api/breaks/", {"page_size": size})
    assert response.status_code == 400 and "page_size" in response.json()["fields"]


def test_sorted_by_value_the_unvalued_breaks_come_last(finished_run):
    from reconciliation.breaks import selectors as break_selectors

    Break.objects.filter(pk=Break.objects.order_by("id").first().pk).update(value_rc=None)
    listed = list(break_selectors.sorted_breaks({"sort": "value"}))
    values = [b.value_rc for b in listed]
    assert values[-1] is None and None not in values[:-1]
    assert values[:-1] == sorted(values[:-1], reverse=True)
