"""A person creates an API token in the browser, sees it once, uses it, and revokes it."""

import urllib.error
import urllib.request

import pytest

from tests.e2e.test_sign_in_flow import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def me_with(live_server, token: str) -> int:
    url, headers = f"{live_server.url}/api/me/", {"Authorization": f"Token {token}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (the live server)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_a_token_is_shown_once_works_and_is_revoked(page, live_server, make_user, screenshot):
    make_user("finance", username="fiona")
    sign_in(page, live_server, "fiona")
    page.click("header >> text=API tokens")
    page.fill("#id_name", "bi tool")
    page.fill("#id_days", "30")
    page.click("text=Create token")
    token = page.input_value("#new-token")
    assert token.startswith("rd_")
    screenshot("api-token-created")
    assert me_with(live_server, token) == 200

    page.goto(f"{live_server.url}/accounts/tokens/")
    assert page.locator("#new-token").count() == 0
    assert token not in page.content()
    row = page.locator("tr", has_text="bi tool")
    assert token[:11] in row.inner_text()
    row.locator("text=revoke").click()
    page.wait_for_selector("text=revoked; it no longer works")
    assert me_with(live_server, token) == 401
