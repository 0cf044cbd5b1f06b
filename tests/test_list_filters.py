"""The filters of the API lists and list pages: odd values are a 400 naming them, never a 500.

A NUL reached PostgreSQL ("text fields cannot contain NUL") and an unknown run type or status
silently listed nothing; now each is refused the same way, through config.query.check_filters.
"""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from reconciliation.demo import data as demo_data

pytestmark = pytest.mark.django_db

ODD = ["ma\x00in", "tab\there", "x" * 201]
API_FILTERS = {
    "/api/runs/": ["type", "status"],
    "/api/datasets/": ["kind", "source", "account", "format"],
    "/api/audit/events/": ["action", "actor", "object_type", "object_id"],
    "/api/datasets/{dataset}/records/": ["asset"],
    "/api/corrections/": [
        "status",
        "severity",
        "type",
        "asset",
        "run",
        "age",
        "min_impact",
        "max_impact",
    ],
}
CASES = [
    (url, name, value) for url, names in API_FILTERS.items() for name in names for value in ODD
]
CASES += [
    ("/api/runs/", "type", "nope"),
    ("/api/runs/", "status", "done"),
    ("/api/datasets/", "kind", "nope"),
    ("/api/corrections/", "status", "done"),
    ("/api/corrections/", "min_impact", "NaN"),
    ("/api/corrections/", "max_impact", "1e400"),
    ("/api/corrections/", "within", "0"),
    ("/api/corrections/", "mine", "everything"),
    ("/api/corrections/", "automatic", "maybe"),
    ("/api/breaks/", "within", "0"),
    ("/api/breaks/", "seen_on", "2026-02-30"),
    ("/api/breaks/", "resolved_on", "yesterday"),
]


@pytest.mark.parametrize(("older", "newer"), [(3, 3), (7, 2)])
def test_a_break_age_range_that_holds_nothing_is_a_400(api, older, newer):
    response = api.get("/api/breaks/", {"age": older, "within": newer})
    assert response.status_code == 400 and list(response.json()["fields"]) == ["within"]


@pytest.fixture
def dataset():
    return demo_data.load()["book trades"]


@pytest.fixture
def api(make_user):
    client = APIClient()
    client.force_authenticate(make_user("admin", "finance"))
    return client


@pytest.mark.parametrize(("url", "name", "value"), CASES)
def test_an_odd_filter_value_is_a_400_naming_it(api, dataset, url, name, value):
    response = api.get(url.format(dataset=dataset), {name: value})
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == [name]


def test_a_good_filter_still_filters(api, dataset):
    assert api.get("/api/runs/", {"type": "trades", "status": "queued"}).json()["results"] == []
    kinds = {d["kind"] for d in api.get("/api/datasets/", {"kind": "trades"}).json()["results"]}
    assert kinds == {"trades"}
    # `format` is the import format here (DRF took it as the renderer and answered 404).
    found = api.get("/api/datasets/", {"format": "kraken-trades"})
    assert found.status_code == 200, found.content
    assert {d["format"] for d in found.json()["results"]} == {"kraken-trades"}


def test_a_cursor_that_is_not_one_is_a_400_naming_it(api, dataset):
    response = api.get("/api/datasets/", {"cursor": "zzz"})
    assert response.status_code == 400 and list(response.json()["fields"]) == ["cursor"]


@pytest.mark.parametrize(
    ("url", "name"),
    [("/datasets/", "kind"), ("/datasets/", "source"), ("/datasets/", "account"),
     ("/audit/", "actor"), ("/audit/", "object_id")],
)  # fmt: skip
def test_list_pages_refuse_a_nul_in_a_filter_with_a_message(make_user, dataset, url, name):
    page = Client(raise_request_exception=False)
    page.force_login(make_user("admin", "finance"))
    response = page.get(url, {name: "a\x00b"})
    assert response.status_code == 400
    assert "These filters cannot be applied" in response.content.decode()
