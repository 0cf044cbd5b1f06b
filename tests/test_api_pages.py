"""Every list endpoint of the API pages the same way and refuses a bad `page_size` the same way."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.generics import GenericAPIView
from rest_framework.test import APIClient

from config.pagination import Pager
from corrections import services as corrections
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from reconciliation.runs.api import RunMatches
from reports import packs
from reports import services as reports
from reports.scope import Wanted
from tests.users import new_user

pytestmark = pytest.mark.django_db

# Paged by hand (its pages go forward by match id), with the same page_size check.
HAND_PAGED = {RunMatches}


def _api_views(patterns=None, prefix=""):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from _api_views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and hasattr(entry.callback, "view_class"):
            yield prefix + str(entry.pattern), entry.callback.view_class


def _list_views():
    return sorted(
        (route, view)
        for route, view in _api_views()
        if route.startswith("api/")
        and "get" in {m.lower() for m in view.http_method_names if hasattr(view, m.lower())}
        and (
            view in HAND_PAGED
            or (issubclass(view, GenericAPIView) and view.pagination_class is not None)
        )
    )


LIST_ROUTES = [route for route, _ in _list_views()]


def test_every_paged_list_endpoint_uses_the_one_pager():
    found = {route: view for route, view in _list_views() if view not in HAND_PAGED}
    assert {"api/datasets/", "api/runs/", "api/breaks/", "api/audit/events/"} <= set(found)
    assert {view.pagination_class for view in found.values()} == {Pager}


# Made once for the module (module_db): every test only reads them.
@pytest.fixture(scope="module")
def objects(module_db):
    ids = demo_data.load()
    dataset = Dataset.objects.get
    run = runs.start_run(
        type="trades", internal=dataset(pk=ids["book trades"]),
        external=dataset(pk=ids["kraken trades"]), prices=None, rule_set_version=None,
        by=new_user("risk"),
    )  # fmt: skip
    run_execution.execute_run(run.pk)
    proposer = new_user("risk")  # two corrections, so that their list has a second page
    for brk in Break.objects.filter(last_seen_run=run, suggested_value__isnull=False)[:2]:
        corrections.propose(brk, by=proposer, reason="paging")
    runs.start_run(  # a second run, so that the runs list has a second page
        type="position", internal=dataset(pk=ids["book balances"]),
        external=dataset(pk=ids["kraken ledgers"]), prices=dataset(pk=ids["prices"]),
        rule_set_version=None, by=new_user("risk"),
    )  # fmt: skip
    finance = new_user("finance")  # two reports and two packs: their lists' second pages
    for format_ in ("json", "csv"):
        reports.request_report(Wanted(run_id=run.pk), format_=format_, by=finance)
        packs.save_pack(name=f"pack {format_}", formats=[format_], period="previous_day",
                        recipients=["fay@example.com"], cron="0 6 * * *", by=finance)  # fmt: skip
    return {"<int:dataset_id>": ids["book trades"], "<int:run_id>": run.pk}


@pytest.fixture(scope="module")
def admin(module_db):
    return new_user("admin", "finance")


@pytest.fixture
def admin_api(admin):
    api = APIClient()
    api.force_authenticate(admin)
    return api


def _url(route: str, objects: dict) -> str:
    for placeholder, pk in objects.items():
        route = route.replace(placeholder, str(pk))
    assert "<" not in route, route
    return "/" + route


@pytest.mark.parametrize("route", LIST_ROUTES)
@pytest.mark.parametrize("size", ["abc", "0", "-1", "1.5", "99999999", "9" * 30, "", "²"])
def test_a_bad_page_size_is_a_400_naming_it(route, size, objects, admin_api):
    response = admin_api.get(_url(route, objects), {"page_size": size})
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"} and "page_size" in body["fields"]


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_a_good_page_size_is_served_exactly(route, objects, admin_api):
    response = admin_api.get(_url(route, objects), {"page_size": "1"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["results"]) == 1 and body["next"]
