"""Text PostgreSQL cannot hold (a NUL, a lone surrogate) in any request is a 400, never a 500.

The middleware (config/request_text.py) refuses it in any query-string parameter of any address
and in the form fields of API POSTs before a view runs; the JSON parser refuses it anywhere in a
body, and refuses a body that is not an object (config/parsers.py).
"""

import json
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from reconciliation.models import Break, BreakComment, RuleSet, Run
from reconciliation.rules import services as rule_sets
from tests.api_tokens import token_for
from tests.demo_runs import finished_position_run

pytestmark = pytest.mark.django_db


def _every_path(patterns, prefix: str = ""):
    """Every URL of the configuration outside the admin, each argument filled in (`<int:…>`: 1)."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith(("admin/", "^")) or "(?P" in route:
            continue
        if isinstance(pattern, URLResolver):
            yield from _every_path(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: "1" if m[1] == "int" else "x", route)


PATHS = sorted(set(_every_path(get_resolver().url_patterns)))


def test_the_walk_finds_the_pages_and_the_api():
    assert {"/datasets/", "/breaks/", "/audit/", "/api/breaks/", "/api/datasets/"} <= set(PATHS)
    assert {"/breaks/1/", "/api/runs/1/matches/", "/api/breaks/1/comments/"} <= set(PATHS)


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
    finished_position_run()
    item = Break.objects.first()
    response = client_as("risk").post(
        f"/breaks/{item.pk}/comments/", {"text": "a\x00b"}, follow=True
    )
    assert "NUL character" in response.content.decode()
    assert not BreakComment.objects.exists()


@pytest.mark.parametrize("path", PATHS)
def test_a_nul_in_any_parameter_of_any_address_is_refused_before_the_view(client_as, path):
    """Even one no view reads, on an address whose object does not exist: nothing runs."""
    client = client_as("admin", "risk")
    response = client.get(path, {"unread": "a\x00b"})
    assert response.status_code == 400, path
    if path.startswith("/api/"):
        assert response.json() == {
            "code": "filter_invalid",
            "message": "These filters cannot be applied: unread.",
            "fields": {"unread": ["must not contain a NUL character"]},
        }
    else:
        assert "These filters cannot be applied: unread." in response.content.decode()
        assert "error.html" in [t.name for t in response.templates]


def test_a_nul_in_a_parameter_name_is_refused_and_shown_escaped(client_as):
    response = client_as("risk").get("/api/breaks/?a%00b=1")
    assert response.status_code == 400
    assert response.json()["fields"] == {"a\\x00b": ["must not contain a NUL character"]}


def test_an_anonymous_page_request_is_sent_to_sign_in_first(db):
    response = Client().get("/breaks/", {"q": "a\x00b"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# The filters the issue named, on the API and on their pages: each a 400 naming the parameter.
ISSUE_FILTERS = [
    *(("/api/breaks/", name) for name in ("source", "q", "status", "severity", "type", "account")),
    ("/api/runs/", "type"), ("/api/runs/", "status"), ("/api/datasets/", "source"),
    *(("/breaks/", name) for name in ("source", "q", "status", "severity", "type", "account")),
    ("/runs/", "type"), ("/datasets/", "source"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "name"), ISSUE_FILTERS)
@pytest.mark.parametrize("value", ["\x00", "main\x00"])
def test_a_nul_in_a_named_filter_is_a_400_naming_it(make_user, path, name, value):
    user = make_user("risk", "finance")
    if path.startswith("/api/"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        response = client.get(path, {name: value})
        assert response.status_code == 400
        assert response.json()["fields"] == {name: ["must not contain a NUL character"]}
    else:
        client = Client()
        client.force_login(user)
        response = client.get(path, {name: value})
        assert response.status_code == 400
        assert f"These filters cannot be applied: {name}." in response.content.decode()


# Every API address that takes a body, with the objects it needs; bodies that are not objects.
@pytest.fixture
def api_with_objects(make_user):
    finished_position_run()
    user = make_user("admin", "risk")
    draft = rule_sets.create_rule_set(name="fuzzed", by=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    client.raise_request_exception = False
    item = Break.objects.first()
    writes = [
        ("post", "/api/datasets/"), ("post", "/api/rule-sets/"),
        ("put", f"/api/rule-sets/versions/{draft.pk}/"),
        ("post", f"/api/rule-sets/versions/{draft.pk}/publish/"), ("post", "/api/runs/"),
        ("post", "/api/breaks/actions/"), ("post", f"/api/breaks/{item.pk}/comments/"),
    ]  # fmt: skip
    return client, writes, (Run.objects.count(), RuleSet.objects.count())


def _nothing_made(before) -> bool:
    made = (Run.objects.count(), RuleSet.objects.count())
    return made == before and not BreakComment.objects.exists()


NOT_OBJECTS = ["5", "null", "[]", "true", '"x"', "1.5", '[{"text": "x"}]']


def test_a_body_that_is_not_an_object_is_a_400_at_every_address(api_with_objects):
    client, writes, before = api_with_objects
    for method, path in writes:
        for body in NOT_OBJECTS:
            response = getattr(client, method)(path, body, content_type="application/json")
            assert response.status_code == 400, (path, body, response.content)
            assert list(response.json()["fields"]) == ["non_field_errors"], (path, body)
    assert _nothing_made(before)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "a\x00b"}, "text"),
        ({"text": "\ud800"}, "text"),  # a lone surrogate: no UTF-8 form, psycopg cannot send it
        ({"name": "a\x00b"}, "name"),
        ({"type": "position\x00"}, "type"),
        ({"rows": [{"account": "main"}, {"account": "ma\x00in"}]}, "rows.1.account"),
        ({"definition": {"rules": [{"x\x00": 1}]}}, "definition.rules.0.x\\x00"),
    ],
)
def test_unstorable_text_anywhere_in_a_json_body_is_a_400_naming_where(
    api_with_objects, body, field
):
    client, writes, before = api_with_objects
    # json.dumps writes "\u0000" and "\ud800" as escapes, as a client would send them
    text = json.dumps(body)
    for method, path in writes:
        response = getattr(client, method)(path, text, content_type="application/json")
        assert response.status_code == 400, (path, response.content)
        assert list(response.json()["fields"]) == [field], (path, response.json())
    assert _nothing_made(before)


def test_a_nul_in_a_form_field_of_an_api_post_is_a_400_naming_it(api_with_objects):
    client, writes, before = api_with_objects
    for method, path in writes:
        if method != "post":
            continue
        response = client.post(path, {"text": "a\x00b", "name": "fine"})  # multipart
        assert response.status_code == 400, (path, response.content)
        assert response.json()["fields"] == {"text": ["must not contain a NUL character"]}
        encoded = client.post(path, "name=a%00b", content_type="application/x-www-form-urlencoded")
        assert encoded.status_code == 400, (path, encoded.content)
        assert encoded.json()["fields"] == {"name": ["must not contain a NUL character"]}
    assert _nothing_made(before)
