"""The pages' own assets exist: every /static/ file a page links is one the app can serve, and
the page names an icon (else each browser asks for /favicon.ico and logs a 404)."""

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

STATIC_LINK = re.compile(r'(?:href|src)="/static/([^"?#]+)"')


@pytest.mark.parametrize("path", ["/", "/breaks/", "/no-such-page/"])
def test_every_linked_static_file_exists(client_as, path):
    page = client_as("risk").get(path).content.decode()
    linked = STATIC_LINK.findall(page)
    assert "css/app.css" in linked
    assert [name for name in linked if finders.find(name) is None] == []


@pytest.mark.parametrize("path", ["/accounts/login/", "/no-such-page/"])
def test_signed_out_pages_link_only_files_that_exist(client, path):
    page = client.get(path, follow=True).content.decode()
    linked = STATIC_LINK.findall(page)
    assert "css/app.css" in linked
    assert [name for name in linked if finders.find(name) is None] == []


def test_a_missing_page_is_the_desks_own_page(client_as):
    response = client_as("finance").get("/runs/no-such-run/")
    assert response.status_code == 404
    assert "There is no page at <code>/runs/no-such-run/</code>" in response.content.decode()


def test_the_server_error_page_stands_alone(client):
    from django.template import loader

    page = loader.get_template("500.html").render({})
    assert "Something went wrong on our side" in page
    assert [name for name in STATIC_LINK.findall(page) if finders.find(name) is None] == []


def test_pages_name_their_icon(client_as):
    page = client_as("finance").get("/").content.decode()
    assert re.search(r'<link rel="icon" href="/static/favicon\.svg"', page)
