"""Every Django admin URL, for every role, answers without a redirect loop (issue 12 item 10).

Risk and finance users used to bounce between /admin/ and the sign-in page
(ERR_TOO_MANY_REDIRECTS): the admin sent them to its sign-in, which saw a signed-in user and
sent them back. They now get the "no access" page; anonymous users get the sign-in page; admins
get the admin.
"""

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse

from tests.accounts.admin_pages import admin_urls, user_admin_urls

pytestmark = pytest.mark.django_db

MAX_REDIRECTS = 2  # e.g. /admin/login/?next=/admin/ -> /admin/ -> its answer


def follow(client: Client, url: str):
    """GET with redirects followed; the test client raises on a loop or more than 20 hops."""
    response = client.get(url, follow=True)
    assert len(response.redirect_chain) <= MAX_REDIRECTS, (url, response.redirect_chain)
    return response


@pytest.mark.parametrize("role", ["risk", "finance"])
def test_desk_roles_get_a_no_access_page_on_every_admin_url(make_user, role):
    user = make_user(role)
    client = Client()
    client.force_login(user)
    for url in [*admin_urls(), *user_admin_urls(user)]:
        response = follow(client, url)
        assert response.status_code == 403, url
        page = response.content.decode()
        assert "administrators" in page and "admin" in page, url
        assert 'href="/"' in page, url  # back to the desk


def test_a_no_access_admin_page_answers_at_once(client_as):
    response = client_as("finance").get("/admin/")
    assert response.status_code == 403  # no hop through the sign-in page at all


def test_users_without_a_role_get_no_access_on_every_admin_url(make_user):
    user = make_user()
    client = Client()
    client.force_login(user)
    for url in [*admin_urls(), *user_admin_urls(user)]:
        assert follow(client, url).status_code == 403, url


def test_anonymous_visitors_get_the_sign_in_page_from_every_admin_url(make_user):
    user = make_user("risk")
    client = Client()
    for url in [*admin_urls(), *user_admin_urls(user)]:
        response = follow(client, url)
        assert response.status_code == 200, url
        assert 'name="password"' in response.content.decode(), url


def test_admins_get_into_every_admin_url(make_user):
    admin_user = make_user("admin")
    client = Client()
    client.force_login(admin_user)
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    add_pages = {
        reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_add"): model_admin
        for m, model_admin in admin.site._registry.items()
    }
    for url in [*admin_urls(), *user_admin_urls(admin_user)]:
        response = follow(client, url)
        if url in add_pages and not add_pages[url].has_add_permission(request):
            # Append-only records (audit, adjustments) are never added by hand.
            assert response.status_code == 403, url
        elif url == "/admin/no-such-page/":
            assert response.status_code == 404, url
        else:
            assert response.status_code == 200, url
            assert 'name="password"' not in response.content.decode() or "password" in url, url


@pytest.mark.parametrize("sign_in", ["/accounts/login/", "/admin/login/"])
def test_a_signed_in_user_sent_to_the_sign_in_page_itself_lands_on_the_desk(client_as, sign_in):
    response = client_as("risk").get(f"{sign_in}?next={sign_in}", follow=True)
    assert len(response.redirect_chain) <= MAX_REDIRECTS
    assert response.status_code == 200 and response.redirect_chain[-1][0] == "/"
