import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from accounts.access import has_capability, user_roles
from accounts.roles import ROLE_CAPABILITIES, ROLES
from audit.models import AuditEvent
from tests.api_tokens import token_for

pytestmark = pytest.mark.django_db


def test_migration_creates_the_three_roles_with_their_capabilities():
    for role in ROLES:
        group = Group.objects.get(name=role)
        capabilities = group.permissions.filter(content_type__app_label="accounts")
        assert set(capabilities.values_list("codename", flat=True)) == ROLE_CAPABILITIES[role]


def test_admins_may_use_django_admin_but_not_approve_corrections(make_user):
    admin = make_user("admin")
    assert admin.has_perm("auth.change_user")
    assert not has_capability(admin, "approve_corrections")
    assert not make_user("risk").has_perm("auth.change_user")


def test_finance_cannot_approve_but_risk_can(make_user):
    assert not has_capability(make_user("finance"), "approve_corrections")
    assert has_capability(make_user("risk"), "approve_corrections")


def test_a_user_without_role_has_no_capability_at_all(make_user):
    user = make_user()
    assert user_roles(user) == []
    assert not has_capability(user, "view_overview")


def test_unknown_capability_is_a_programming_error(make_user):
    with pytest.raises(ValueError, match="unknown capability"):
        has_capability(make_user("admin"), "fly")


def test_anonymous_page_request_redirects_to_sign_in(client):
    response = client.get("/audit/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/audit/"


def test_user_without_role_gets_the_no_access_page(client, make_user):
    client.force_login(make_user())
    response = client.get("/")
    assert response.status_code == 403
    assert b"No access" in response.content
    assert b"Ask an administrator" in response.content


def test_user_without_role_is_refused_by_the_api(make_user):
    api = APIClient()
    api.force_authenticate(make_user())
    assert api.get("/api/me/").status_code == 403


@pytest.mark.parametrize(
    ("role", "path", "expected"),
    [
        ("risk", "/", 200),
        ("finance", "/", 200),
        ("admin", "/", 200),
        ("risk", "/audit/", 403),
        ("finance", "/audit/", 403),
        ("admin", "/audit/", 200),
        ("finance", "/audit/verify/", 403),
        ("admin", "/audit/verify/", 200),
        ("risk", "/api/me/", 200),
        ("finance", "/api/me/", 200),
        ("risk", "/api/audit/events/", 403),
        ("finance", "/api/audit/verify/", 403),
        ("admin", "/api/audit/events/", 200),
        ("admin", "/api/audit/verify/", 200),
        ("risk", "/api/schema/", 200),
        ("finance", "/api/docs/", 200),
    ],
)
def test_role_by_endpoint(client_as, role, path, expected):
    assert client_as(role).get(path).status_code == expected


@pytest.mark.parametrize("path", ["/api/me/", "/api/audit/events/"])
def test_anonymous_api_requests_are_refused_with_json(client, path):
    response = client.get(path)
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"


def test_anonymous_cannot_read_the_schema(client):
    assert client.get("/api/schema/").status_code in (401, 403)


def test_anonymous_opening_the_api_docs_is_sent_to_sign_in(client):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_navigation_shows_each_role_what_it_may_use(client_as):
    finance_page = client_as("finance").get("/").content.decode()
    admin_page = client_as("admin").get("/").content.decode()
    assert 'href="/audit/"' not in finance_page
    assert 'href="/admin/"' not in finance_page
    assert 'href="/audit/"' in admin_page
    assert 'href="/admin/"' in admin_page


def test_api_me_with_a_token(make_user):
    user = make_user("risk", "finance")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    body = api.get("/api/me/").json()
    assert body["username"] == user.username
    assert body["roles"] == ["risk", "finance"]
    assert "approve_corrections" in body["capabilities"]
    assert "view_audit" not in body["capabilities"]


def test_api_me_with_a_browser_session(client_as):
    assert client_as("admin").get("/api/me/").json()["roles"] == ["admin"]


def test_bad_token_is_refused(db):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = api.get("/api/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_role_change_is_audited_with_before_and_after(make_user):
    from accounts.services import set_roles

    admin = make_user("admin")
    user = make_user("finance")
    set_roles(user, ["risk", "finance"], by=admin)
    event = AuditEvent.objects.filter(action="user.roles_changed", object_id=str(user.pk)).first()
    assert event.actor_label == admin.username
    assert event.before == {"roles": ["finance"]}
    assert event.after == {"roles": ["finance", "risk"]}


def test_unknown_role_is_refused_and_changes_nothing(make_user):
    from accounts.services import UnknownRole, set_roles

    user = make_user("finance")
    count = AuditEvent.objects.count()
    with pytest.raises(UnknownRole):
        set_roles(user, ["finance", "superhero"], by=None)
    assert user_roles(user) == ["finance"]
    assert AuditEvent.objects.count() == count


def test_admin_role_makes_staff_and_losing_it_removes_staff(make_user):
    from accounts.services import set_roles

    user = make_user("risk")
    set_roles(user, ["admin"], by=None)
    user.refresh_from_db()
    assert user.is_staff
    set_roles(user, ["finance"], by=None)
    user.refresh_from_db()
    assert not user.is_staff


def test_role_change_in_django_admin_is_audited(client, make_user):
    admin = make_user("admin", username="boss")
    target = make_user("finance", username="alice")
    client.force_login(admin)
    response = client.post(
        f"/admin/auth/user/{target.pk}/change/",
        {
            "username": "alice",
            "is_active": "on",
            "roles": ["risk"],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.filter(action="user.roles_changed", object_id=str(target.pk)).first()
    assert event.actor_label == "boss"
    assert event.before == {"roles": ["finance"]}
    assert event.after == {"roles": ["risk"]}


def test_set_roles_command(make_user):
    from django.core.management import call_command

    user = make_user(username="carol")
    call_command("set_roles", "carol", "--role", "risk")
    assert user_roles(user) == ["risk"]


def test_admin_group_holds_the_permissions_of_models_of_every_app():
    admin = Group.objects.get(name="admin")
    assert admin.permissions.filter(codename="view_auditevent").exists()
    assert admin.permissions.filter(codename="change_periodictask").exists()
