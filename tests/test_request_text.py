"""A NUL character in any request parameter is refused with a 400, never a database error."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from reconciliation import demo_data, runs
from reconciliation.models import Break, BreakComment, Dataset

pytestmark = pytest.mark.django_db


def _plain_paths(patterns, prefix: str = ""):
    """Every URL of the configuration that takes no argument (its route as written)."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if "<" in route or route.startswith(("admin/", "^")) or "(?P" in route:
            continue
        if isinstance(pattern, URLResolver):
            yield from _plain_paths(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + route.rstrip("$").lstrip("^")


PATHS = sorted(set(_plain_paths(get_resolver().url_patterns)))


def test_the_walk_finds_the_pages_and_the_api():
    assert {"/datasets/", "/breaks/", "/audit/", "/api/breaks/", "/api/datasets/"} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS)
def test_a_nul_in_the_query_string_is_a_400_on_every_url(client_as, path):
    client = client_as("admin", "risk")
    client.raise_request_exception = False
    response = client.get(path, {"source": "a\x00b", "q": "x", "next": "\x00"})
    assert response.status_code == 400, path
    assert "NUL" in response.content.decode()


def test_the_api_names_the_parameter_in_fields(client_as):
    response = client_as("risk").get("/api/datasets/", {"source": "\x00"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_text"
    assert set(response.json()["fields"]) == {"source"}


def test_a_nul_in_a_page_form_changes_nothing(client_as):
    ids = demo_data.load()
    run = runs.start_run(
        type="position",
        internal=Dataset.objects.get(pk=ids["book balances"]),
        external=Dataset.objects.get(pk=ids["kraken ledgers"]),
    )
    runs.execute_run(run.pk)
    item = Break.objects.first()
    response = client_as("risk").post(f"/breaks/{item.pk}/comments/", {"text": "a\x00b"})
    assert response.status_code == 400
    assert not BreakComment.objects.exists()
