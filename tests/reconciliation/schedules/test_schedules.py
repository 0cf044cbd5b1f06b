"""Schedules: validated, kept in beat, paused and resumed, running the latest datasets."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django_celery_beat.models import PeriodicTask

from audit.models import AuditEvent
from reconciliation.demo import data as demo_data
from reconciliation.models import Account, RuleSet, Run, Schedule
from reconciliation.runs import inputs as run_inputs
from reconciliation.schedules import services as schedules

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    demo_data.load()
    return Account.objects.get(source__code="book"), Account.objects.get(source__code="kraken")


def make(accounts, **changes):
    book, kraken = accounts
    values = {
        "name": "hourly positions", "type": "position", "internal_account": book,
        "external_account": kraken, "cron": "0 * * * *",
        "rule_set": RuleSet.objects.get(name="default"), "by": None,
    }  # fmt: skip
    return schedules.save_schedule(**{**values, **changes})


def test_a_schedule_is_a_beat_task_and_starts_the_latest_datasets(accounts):
    schedule = make(accounts)
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "reconciliation.run_schedule" and task.enabled
    assert task.crontab.minute == "0" and task.args == f"[{schedule.pk}]"
    run = schedules.run_schedule(schedule.pk)
    assert run.internal_dataset.account == accounts[0] and run.type == "position"
    assert run.external_dataset.kind in run_inputs.RUN_TYPES["position"].external
    assert Schedule.objects.get(pk=schedule.pk).last_run == run


def test_a_bad_cron_is_refused_and_nothing_is_saved(accounts):
    with pytest.raises(schedules.ScheduleInvalid) as caught:
        make(accounts, cron="every hour")
    assert "cron" in caught.value.fields
    assert (
        not Schedule.objects.exists()
        and not PeriodicTask.objects.filter(task="reconciliation.run_schedule").exists()
    )


def test_pause_resume_and_paused_schedules_start_nothing(accounts):
    schedule = make(accounts)
    schedules.set_enabled(schedule, enabled=False, by=None)
    assert not PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled
    assert schedules.run_schedule(schedule.pk) is None
    assert not Run.objects.exists()
    schedules.set_enabled(schedule, enabled=True, by=None)
    assert schedules.run_schedule(schedule.pk) is not None
    actions = set(
        AuditEvent.objects.filter(object_type="schedule").values_list("action", flat=True)
    )
    assert {"schedule.saved", "schedule.paused", "schedule.resumed"} <= actions


def test_admin_edits_and_deletes_in_the_browser(accounts, client_as):
    client = client_as("admin")
    book, kraken = accounts
    response = client.post("/schedules/", {
        "name": "daily cash", "type": "cash", "internal_account": book.pk,
        "external_account": kraken.pk, "rule_set": "default", "cron": "0 6 * * *",
        "enabled": "on",
    })  # fmt: skip
    assert response.status_code == 302
    schedule = Schedule.objects.get(name="daily cash")
    bad = client.post(f"/schedules/{schedule.pk}/", {
        "name": "daily cash", "type": "cash", "internal_account": book.pk,
        "external_account": book.pk, "rule_set": "default", "cron": "0 6 * * *",
    })  # fmt: skip
    assert "another account" in bad.content.decode()
    client.post(f"/schedules/{schedule.pk}/delete/")
    assert not Schedule.objects.exists()
    assert not PeriodicTask.objects.filter(task="reconciliation.run_schedule").exists()


def test_risk_sees_schedules_but_cannot_create_them(client_as):
    assert client_as("risk").get("/schedules/").status_code == 200
    refused = client_as("risk").post("/schedules/", {"name": "x"})
    assert refused.status_code == 403 and "nothing was saved" in refused.content.decode()
    assert not Schedule.objects.exists()


def _unpublished(name="draft only"):
    from reconciliation.rules import services as rule_sets

    return rule_sets.create_rule_set(name=name, by=None).rule_set


def test_a_rule_set_without_a_published_version_is_refused_by_the_service(accounts):
    # Saved, it would be skipped at every firing with only an audit entry (D10).
    draft = _unpublished()
    with pytest.raises(schedules.ScheduleInvalid) as caught:
        make(accounts, rule_set=draft)
    assert "draft only" in caught.value.fields["rule_set"][0]
    assert "publish" in caught.value.fields["rule_set"][0]
    assert not Schedule.objects.exists()


def test_the_form_offers_only_published_rule_sets_and_names_the_unpublished_one(
    accounts, client_as
):
    draft = _unpublished()
    client = client_as("admin")
    page = client.get("/schedules/").content.decode()
    assert 'value="default"' in page and 'value="draft only"' not in page
    book, kraken = accounts
    response = client.post("/schedules/", {
        "name": "daily cash", "type": "cash", "internal_account": book.pk,
        "external_account": kraken.pk, "rule_set": draft.name, "cron": "0 6 * * *",
    })  # fmt: skip
    body = response.content.decode()
    assert response.status_code == 200 and not Schedule.objects.exists()
    assert "draft only" in body and "publish" in body
    version = draft.versions.get()
    assert f"/rules/versions/{version.pk}/" in body


def test_a_schedule_saved_by_no_signed_in_user_stores_no_creator(accounts):
    # An AnonymousUser is truthy: `by if by else None` handed it to the foreign key, which refused.
    schedule = make(accounts, by=AnonymousUser())
    assert Schedule.objects.get(pk=schedule.pk).created_by is None
    entry = AuditEvent.objects.filter(action__startswith="schedule.").latest("sequence")
    assert entry.actor_label == "anonymous"
