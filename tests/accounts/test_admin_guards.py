"""Django admin cannot go around the audited services: tokens, roles and internal tasks."""

import json

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from accounts import api_tokens, services
from accounts.access import user_roles
from accounts.models import ApiToken
from audit.models import AuditEvent
from tests.api_tokens import token_for

pytestmark = pytest.mark.django_db

INTERNAL_TASK = "reconciliation.execute_run"


def every_admin_page(objects=()) -> list[str]:
    """The index, each app's index, every model's list and add page, and these objects' pages."""
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse("admin:app_list", kwargs={"app_label": meta.app_label}))
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    for obj in objects:
        meta = obj._meta
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
    return list(dict.fromkeys(urls))


def user_form(user, **fields) -> dict:
    data = {
        "username": user.username,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }
    data.update(fields)
    return data


# --- API tokens -----------------------------------------------------------------------------


def test_no_admin_page_shows_a_token_or_its_digest(client, make_user):
    admin_user = make_user("admin")
    owner = make_user("risk")
    secret = token_for(owner)
    token = ApiToken.objects.get(user=owner)
    client.force_login(admin_user)
    pages = every_admin_page([token, owner])
    assert reverse("admin:accounts_apitoken_changelist") in pages
    for url in pages:
        page = client.get(url).content.decode()
        assert secret not in page, url
        assert secret[15:25] not in page, url  # no part of it beyond what knox keeps in clear
        assert token.digest[:20] not in page, url
    listing = client.get(reverse("admin:accounts_apitoken_changelist")).content.decode()
    assert token.name in listing and token.starts_with in listing


def test_the_admin_cannot_make_change_or_delete_a_token(client, make_user):
    admin_user = make_user("admin")
    owner = make_user("risk")
    token_for(owner)
    token = ApiToken.objects.get(user=owner)
    client.force_login(admin_user)
    assert client.get(reverse("admin:accounts_apitoken_add")).status_code == 403
    created = client.post(
        reverse("admin:accounts_apitoken_add"), {"user": admin_user.pk, "expiry_0": "2030-01-01"}
    )
    assert created.status_code == 403
    change = reverse("admin:accounts_apitoken_change", args=[token.pk])
    client.post(change, {"name": "renamed", "user": admin_user.pk})
    assert (
        client.post(reverse("admin:accounts_apitoken_delete", args=[token.pk])).status_code == 403
    )
    token.refresh_from_db()
    assert (token.name, token.user_id) != ("renamed", admin_user.pk)
    assert ApiToken.objects.count() == 1


def test_an_admin_revokes_anyones_token_from_the_admin_and_it_is_audited(client, make_user):
    admin_user = make_user("admin", username="boss")
    owner = make_user("risk")
    secret = token_for(owner)
    token = ApiToken.objects.get(user=owner)
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert event.actor_label == "boss" and event.before["user"] == owner.username
    from tests.accounts.token_clients import api_with

    assert api_with(secret).get("/api/me/").status_code == 401


def test_an_admin_revokes_anyones_token_through_the_service(make_user):
    admin_user, owner = make_user("admin"), make_user("risk")
    token_for(owner)
    token = api_tokens.access_api_token(admin_user, ApiToken.objects.get(user=owner).pk)
    api_tokens.revoke_api_token(token, by=admin_user)
    assert ApiToken.objects.count() == 0


# --- users and roles ------------------------------------------------------------------------


def test_the_user_form_cannot_set_superuser_groups_or_permissions(client, make_user):
    admin_user = make_user("admin")
    target = make_user("finance", username="alice")
    client.force_login(admin_user)
    permission = Permission.objects.get(codename="approve_corrections")
    response = client.post(
        reverse("admin:auth_user_change", args=[target.pk]),
        user_form(
            target,
            roles=["finance"],
            is_superuser="on",
            is_staff="on",
            groups=[Group.objects.get(name="admin").pk, Group.objects.get(name="risk").pk],
            user_permissions=[permission.pk],
        ),
    )
    assert response.status_code == 302, response.content[:2000]
    target.refresh_from_db()
    assert not target.is_superuser and not target.is_staff
    assert user_roles(target) == ["finance"]
    assert not target.user_permissions.exists()
    assert not target.has_perm("accounts.approve_corrections")


def test_the_user_form_offers_roles_not_groups_or_permissions(client, make_user):
    client.force_login(make_user("admin"))
    target = make_user("risk")
    page = client.get(reverse("admin:auth_user_change", args=[target.pk])).content.decode()
    assert 'name="roles"' in page
    for field in ("is_superuser", "is_staff", "groups", "user_permissions"):
        assert f'name="{field}"' not in page, field


def test_roles_changed_in_the_admin_go_through_set_roles(client, make_user, monkeypatch):
    admin_user = make_user("admin", username="boss")
    target = make_user("finance", username="alice")
    calls = []
    real_set_roles = services.set_roles

    def recording(user, roles, *, by):
        calls.append((user.pk, sorted(roles), by.username))
        return real_set_roles(user, roles, by=by)

    monkeypatch.setattr(services, "set_roles", recording)
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:auth_user_change", args=[target.pk]),
        user_form(target, roles=["risk", "admin"]),
    )
    assert response.status_code == 302
    assert calls == [(target.pk, ["admin", "risk"], "boss")]
    # Fetched anew: a user object keeps its roles, as Django keeps its permissions on it.
    target = type(target).objects.get(pk=target.pk)
    assert user_roles(target) == ["risk", "admin"]
    assert target.is_staff  # follows the admin role
    event = AuditEvent.objects.filter(action="user.roles_changed", object_id=str(target.pk)).first()
    assert event.actor_label == "boss"
    assert event.after == {"roles": ["admin", "risk"]}


def test_an_unknown_role_in_the_admin_form_is_refused(client, make_user):
    client.force_login(make_user("admin"))
    target = make_user("finance")
    events = AuditEvent.objects.count()
    response = client.post(
        reverse("admin:auth_user_change", args=[target.pk]), user_form(target, roles=["superhero"])
    )
    assert response.status_code == 200 and "is not one of the available choices" in (
        response.content.decode()
    )
    assert user_roles(target) == ["finance"]
    assert AuditEvent.objects.count() == events


def test_role_groups_cannot_be_edited_in_the_admin(client, make_user):
    client.force_login(make_user("admin"))
    admin_group = Group.objects.get(name="admin")
    before = set(admin_group.permissions.values_list("pk", flat=True))
    approve = Permission.objects.get(codename="approve_corrections")
    response = client.post(
        reverse("admin:auth_group_change", args=[admin_group.pk]),
        {"name": "admin", "permissions": [*before, approve.pk]},
    )
    assert response.status_code == 403
    assert client.post(reverse("admin:auth_group_add"), {"name": "x"}).status_code == 403
    assert set(admin_group.permissions.values_list("pk", flat=True)) == before
    assert not Group.objects.filter(name="x").exists()


# --- periodic tasks -------------------------------------------------------------------------


def test_no_admin_page_offers_internal_tasks(client, make_user):
    import reconciliation.tasks  # noqa: F401 (registers the tasks, as a running site has)

    crontab = CrontabSchedule.objects.create(minute="0", hour="*")
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    task = PeriodicTask.objects.create(
        name="audit head", task="audit.export_head", interval=interval, args=json.dumps([])
    )
    client.force_login(make_user("admin"))
    for url in every_admin_page([task, crontab, interval]):
        response = client.get(url)
        assert INTERNAL_TASK not in response.content.decode(), url


def test_periodic_tasks_cannot_be_made_changed_or_run_from_the_admin(client, make_user):
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    task = PeriodicTask.objects.create(
        name="audit head", task="audit.export_head", interval=interval
    )
    client.force_login(make_user("admin"))
    add = client.post(
        reverse("admin:django_celery_beat_periodictask_add"),
        {"name": "sneaky", "task": INTERNAL_TASK, "interval": interval.pk, "args": "[1]"},
    )
    assert add.status_code == 403
    change = reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
    client.post(change, {"name": "audit head", "task": INTERNAL_TASK, "interval": interval.pk})
    for action in ("run_tasks", "toggle_tasks", "disable_tasks", "delete_selected"):
        client.post(
            reverse("admin:django_celery_beat_periodictask_changelist"),
            {"action": action, "_selected_action": [task.pk]},
        )
    task.refresh_from_db()
    assert (task.task, task.enabled) == ("audit.export_head", True)
    assert list(PeriodicTask.objects.values_list("name", flat=True)) == ["audit head"]
    changelist = client.get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert changelist.status_code == 200 and "audit head" in changelist.content.decode()
    for model in ("intervalschedule", "crontabschedule", "solarschedule", "clockedschedule"):
        assert client.get(reverse(f"admin:django_celery_beat_{model}_add")).status_code == 403


def test_a_password_set_in_the_admin_is_audited(client, make_user):
    client.force_login(make_user("admin", username="boss"))
    target = make_user("risk", username="rita")
    url = reverse("admin:auth_user_password_change", args=[target.pk])
    response = client.post(
        url,
        {
            "password1": "a-new-long-pass-42",
            "password2": "a-new-long-pass-42",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.check_password("a-new-long-pass-42")
    event = AuditEvent.objects.get(action="user.password_set")
    assert (event.actor_label, event.object_id) == ("boss", str(target.pk))
    assert "a-new-long-pass-42" not in json.dumps([event.before, event.after])


def test_a_refused_password_in_the_admin_changes_nothing_and_records_nothing(client, make_user):
    client.force_login(make_user("admin"))
    target = make_user("risk")
    url = reverse("admin:auth_user_password_change", args=[target.pk])
    response = client.post(
        url, {"password1": "short", "password2": "other", "usable_password": "true"}
    )
    assert response.status_code == 200
    target.refresh_from_db()
    assert target.check_password("correct-horse-9")
    assert not AuditEvent.objects.filter(action="user.password_set").exists()
