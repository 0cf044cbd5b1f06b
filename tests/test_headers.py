"""Every page, API endpoint and admin page answers with a Content-Security-Policy, and nothing a
signed-in user or an API client receives may be stored by a browser or a proxy."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts import services as account_services
from corrections import services as corrections
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, RuleSetVersion
from tests.accounts.admin_pages import admin_urls, user_admin_urls
from tests.demo_runs import finished_position_run

pytestmark = pytest.mark.django_db

EXPECTED_POLICY = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
}


def _routes(patterns, prefix: str = ""):
    """Every route of the URL configuration as written (`runs/<int:run_id>/`), admin aside."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith(("admin/", "^")) or "(?P" in route:
            continue
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + route


ROUTES = sorted(set(_routes(get_resolver().url_patterns)))


@pytest.fixture
def world():
    ids = demo_data.load()
    run = finished_position_run(ids)
    version = RuleSetVersion.objects.first()
    proposer = get_user_model().objects.create_user(username="proposer")
    account_services.set_roles(proposer, ["risk"], by=None)
    correction = corrections.propose(
        Break.objects.order_by("-value_rc").first(), by=proposer, reason="a fill the book missed"
    )
    return {
        "correction_id": correction.pk,
        "run_id": run.pk,
        "break_id": Break.objects.first().pk,
        "dataset_id": ids["prices"],
        "version_id": version.pk,
        "rule_set_id": version.rule_set_id,
    }


def every_url(world) -> list[str]:
    """Each route with its arguments filled from real objects (unknown ones: a missing id)."""

    def fill(match):
        return str(world.get(match.group(1), 999_999))

    return [re.sub(r"<int:(\w+)>", fill, route) for route in ROUTES]


def policy(response) -> set[str]:
    return {part.strip() for part in response["Content-Security-Policy"].split(";")}


def test_the_walk_finds_pages_api_and_objects(world):
    urls = every_url(world)
    assert {"/", "/breaks/", "/audit/", "/api/breaks/", "/api/docs/", "/healthz"} <= set(urls)
    assert f"/runs/{world['run_id']}/" in urls and "/accounts/login/" in urls
    assert f"/corrections/{world['correction_id']}/" in urls


@pytest.mark.parametrize("role", ["risk", "finance", "admin"])
def test_every_answer_to_a_signed_in_user_has_the_policy_and_is_not_stored(make_user, world, role):
    user = make_user(role)
    client = Client()
    client.force_login(user)
    for url in every_url(world) + admin_urls() + user_admin_urls(user):
        response = client.get(url)
        assert policy(response) >= EXPECTED_POLICY, url
        assert "'unsafe-inline'" not in response["Content-Security-Policy"], url
        assert "no-store" in response.get("Cache-Control", ""), (url, response.status_code)


def test_every_api_answer_is_not_stored_even_to_anonymous_callers(client, world):
    for url in every_url(world):
        if url.startswith("/api/"):
            response = client.get(url)
            assert response.status_code in (302, 401, 403), url  # docs: sign in first
            assert "no-store" in response["Cache-Control"], url


def test_pages_for_signed_out_visitors_have_the_policy_too(client):
    for url in ("/accounts/login/", "/admin/login/", "/breaks/", "/healthz"):
        assert policy(client.get(url)) >= EXPECTED_POLICY, url


def test_static_files_stay_cacheable_for_a_signed_in_user(client_as):
    assert finders.find("css/app.css")
    response = client_as("risk").get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
