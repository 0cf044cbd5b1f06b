"""A form sent after the session ended, and a POST-only address opened as a page (D3)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db


def _next(response) -> str:
    return parse_qs(urlsplit(response["Location"]).query)["next"][0]


def test_a_form_sent_signed_out_returns_to_the_page_it_came_from(client):
    response = client.post(
        "/breaks/12/comments/", {"text": "hello"}, HTTP_REFERER="http://testserver/breaks/12/"
    )
    assert response.status_code == 302 and _next(response) == "/breaks/12/"
    page = client.get(response["Location"]).content.decode()
    assert "Your session had ended" in page and "nothing was saved" in page


@pytest.mark.parametrize("referer", ["", "https://evil.example/x", "javascript:alert(1)"])
def test_an_unsafe_or_missing_referer_returns_to_the_overview(client, referer):
    response = client.post("/breaks/12/comments/", {"text": "x"}, HTTP_REFERER=referer)
    assert response.status_code == 302 and _next(response) == "/"


def _page_paths(resolver=None, prefix=""):
    """Every page address (POST-only or not), with 1 for each id."""
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith(("admin", "api")):
                continue  # the Django admin and the JSON API answer for themselves
            yield from _page_paths(entry, route)
        elif isinstance(entry, URLPattern):
            path = "/" + route.replace("^", "").replace("$", "")
            for converter in ("<int:", "<str:", "<slug:", "<uuid:", "<path:"):
                while converter in path:
                    start = path.index(converter)
                    path = path[:start] + "1" + path[path.index(">", start) + 1 :]
            yield path


def test_no_post_only_address_answers_a_page_with_a_bare_405(client_as):
    client = client_as("admin")
    bare, form_only = [], set()
    for path in _page_paths():
        response = client.get(path)
        if response.status_code == 405:
            bare.append(path)
        elif (
            response.status_code == 200
            and not response.streaming
            and ("only takes a form" in response.content.decode())
        ):
            form_only.add(path)
    assert bare == [], bare
    named = {"/rules/new/", "/breaks/bulk/", "/runs/1/cancel/", "/datasets/upload/confirm/",
             "/schedules/1/toggle/", "/breaks/1/comments/"}  # fmt: skip
    assert named <= form_only, named - form_only


def test_the_page_for_a_post_only_address_links_back(client_as):
    client: Client = client_as("admin")
    response = client.get("/rules/new/", HTTP_REFERER="http://testserver/rules/")
    body = response.content.decode()
    assert response.status_code == 200 and "only takes a form" in body
    assert 'href="/rules/"' in body
