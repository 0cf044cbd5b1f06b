import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-9"


def sign_in(page, live_server, username, password=PASSWORD):
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def test_risk_user_signs_in_and_sees_only_their_navigation(
    page, live_server, make_user, screenshot
):
    make_user("risk", username="rita")
    sign_in(page, live_server, "rita")
    page.wait_for_selector("h1:has-text('Overview')")
    nav = page.locator("header nav").inner_text()
    assert "Overview" in nav and "API" in nav
    assert "Audit log" not in nav and "Admin" not in nav
    assert page.locator(".topbar .role").inner_text() == "risk"
    screenshot("overview-risk")


def test_wrong_password_shows_an_error_in_the_page(page, live_server, make_user, screenshot):
    make_user("risk", username="rita")
    sign_in(page, live_server, "rita", "not-the-password")
    alert = page.locator("[role=alert]")
    assert "The user name or password is not correct." in alert.inner_text()
    screenshot("sign-in-error")


def test_admin_verifies_the_audit_chain_with_one_click(page, live_server, make_user, screenshot):
    make_user("admin", username="ada")
    sign_in(page, live_server, "ada")
    page.click("header nav >> text=Audit log")
    page.wait_for_selector("h1:has-text('Audit log')")
    page.click("text=Verify the chain")
    status = page.wait_for_selector("#verify-result [role=status]")
    assert "Chain intact" in status.inner_text()
    assert page.url.endswith("/audit/")  # htmx swapped the result in place
    screenshot("audit-verified")


def test_user_without_role_gets_no_access_and_can_sign_out(page, live_server, make_user):
    make_user(username="nora")
    sign_in(page, live_server, "nora")
    page.wait_for_selector("h1:has-text('No access')")
    page.click("text=Sign out")
    page.wait_for_selector("h1:has-text('Sign in')")
