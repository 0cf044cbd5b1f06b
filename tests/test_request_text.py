"""A NUL in any request parameter is never a server error (PostgreSQL text cannot hold it)."""

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


# Parameters the pages and API read (filters, paging, redirects, the cron preview), all at once.
WITH_NUL = {
    name: "a\x00b"
    for name in ("source", "account", "kind", "type", "status", "q", "actor", "object_id",
                 "before", "after", "next", "cron", "format", "page_size")
}  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
def test_a_nul_in_the_query_string_is_never_a_server_error(client_as, path):
    client = client_as("admin", "risk")
    client.raise_request_exception = False
    response = client.get(path, WITH_NUL)
    # /healthz answers 503 when no worker beats, as here; a 500 is a crash anywhere
    assert response.status_code != 500, path


def test_the_api_names_the_parameter_in_fields(client_as):
    response = client_as("risk").get("/api/datasets/", {"source": "\x00"})
    assert response.status_code == 400
    assert "source" in response.json()["fields"]


def test_a_nul_in_a_page_form_changes_nothing(client_as):
    ids = demo_data.load()
    run = runs.start_run(
        type="position",
        internal=Dataset.objects.get(pk=ids["book balances"]),
        external=Dataset.objects.get(pk=ids["kraken ledgers"]),
    )
    runs.execute_run(run.pk)
    item = Break.objects.first()
    response = client_as("risk").post(
        f"/breaks/{item.pk}/comments/", {"text": "a\x00b"}, follow=True
    )
    assert "NUL character" in response.content.decode()
    assert not BreakComment.objects.exists()
