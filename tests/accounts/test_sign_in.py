import pytest
from django.test import Client

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-9"


def sign_in(client: Client, username: str, password: str, ip: str = "10.1.1.1"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_successful_sign_in_redirects_and_is_audited(client, make_user):
    user = make_user("risk", username="rita")
    response = sign_in(client, "rita", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    event = AuditEvent.objects.filter(action="auth.login").first()
    assert event.actor_id == user.pk
    assert event.ip == "10.1.1.1"
    assert len(event.request_id) == 32


def test_failed_sign_in_shows_an_error_and_is_audited_without_the_password(client, make_user):
    make_user("risk", username="rita")
    response = sign_in(client, "rita", "wrong-password-1")
    assert response.status_code == 200
    assert b"The user name or password is not correct." in response.content
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.object_id == "rita"
    assert event.actor_label == "system"
    assert "wrong-password-1" not in str(event.before) + str(event.after) + event.user_agent


def test_unknown_user_fails_the_same_way(client, db):
    response = sign_in(client, "nobody", "whatever-1")
    assert b"The user name or password is not correct." in response.content
    assert AuditEvent.objects.filter(action="auth.login_failed", object_id="nobody").count() == 1


def test_user_is_locked_out_after_too_many_failures(client, make_user, settings):
    settings.LOGIN_FAILURES_PER_USER = 3
    make_user("risk", username="rita")
    for attempt in range(3):
        sign_in(client, "rita", f"wrong-{attempt}", ip=f"10.0.0.{attempt}")
    response = sign_in(client, "rita", PASSWORD, ip="10.0.0.99")
    assert response.status_code == 200
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.login_blocked", object_id="rita").count() == 1
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_success_clears_the_user_counter(client, make_user, settings):
    settings.LOGIN_FAILURES_PER_USER = 3
    make_user("risk", username="rita")
    sign_in(client, "rita", "wrong-1")
    sign_in(client, "rita", "wrong-2")
    assert sign_in(client, "rita", PASSWORD).status_code == 302
    other = Client()
    sign_in(other, "rita", "wrong-3")
    sign_in(other, "rita", "wrong-4")
    assert sign_in(other, "rita", PASSWORD).status_code == 302


def test_inactive_user_cannot_sign_in(client, make_user):
    user = make_user("risk", username="gone")
    user.is_active = False
    user.save()
    assert b"not correct" in sign_in(client, "gone", PASSWORD).content


def test_sign_out_needs_post_and_is_audited(client, make_user):
    user = make_user("finance", username="fred")
    client.force_login(user)
    opened = client.get("/accounts/logout/")  # does not sign out; says where to go instead
    assert opened.status_code == 200 and "only takes a form" in opened.content.decode()
    assert not AuditEvent.objects.filter(action="auth.logout").exists()
    assert client.post("/accounts/logout/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout", actor=user).count() == 1
    assert client.get("/").status_code == 302


def test_user_without_role_can_still_sign_out(client, make_user):
    client.force_login(make_user())
    assert client.post("/accounts/logout/").status_code == 302


def test_admin_sign_in_goes_through_the_same_throttled_audited_view(client, make_user):
    make_user("admin", username="boss")
    response = client.post("/admin/login/", {"username": "boss", "password": "bad-pass-1"})
    assert b"The user name or password is not correct." in response.content
    assert AuditEvent.objects.filter(action="auth.login_failed", object_id="boss").exists()


def test_open_redirect_after_sign_in_is_refused(client, make_user):
    make_user("risk", username="rita")
    response = client.post(
        "/accounts/login/",
        {"username": "rita", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"
