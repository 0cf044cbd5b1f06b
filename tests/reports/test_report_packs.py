"""Report packs: edited on their page and through the API, fired by beat once per period, and
sent in one e-mail (Django's mail outbox) once every report of the firing is built."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django_celery_beat.models import PeriodicTask

from audit.models import AuditEvent
from reports import building, packs
from reports.models import Report, ReportPack
from tests.api_tokens import token_client
from tests.corrections import large_books

pytestmark = pytest.mark.django_db

FORM = {"name": "Daily for finance", "formats": ["json", "csv"], "period": "previous_day",
        "recipients": "fay@example.com, cfo@example.com", "cron": "0 6 * * *",
        "enabled": "on"}  # fmt: skip


def _pack(user, **changes) -> ReportPack:
    values = {"name": "Daily", "formats": ["json", "csv"], "period": "previous_day",
              "recipients": ["fay@example.com"], "cron": "0 6 * * *", "by": user,
              **changes}  # fmt: skip
    return packs.save_pack(**values)


def test_a_pack_saved_on_its_page_gets_its_beat_task(client_as):
    response = client_as("finance").post("/reports/packs/", FORM)
    assert response.status_code == 302, response.content.decode()[:3000]
    pack = ReportPack.objects.get()
    assert pack.recipients == ["fay@example.com", "cfo@example.com"]
    task = PeriodicTask.objects.get(pk=pack.periodic_task_id)
    assert task.task == "reports.deliver_pack" and json.loads(task.args) == [pack.pk]
    assert (task.crontab.minute, task.crontab.hour, task.enabled) == ("0", "6", True)
    page = client_as("finance").get("/reports/packs/").content.decode()
    assert "Daily for finance" in page and "fay@example.com" in page
    assert AuditEvent.objects.filter(action="report_pack.saved").count() == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"recipients": "not-an-address"}, "not e-mail addresses: not-an-address"),
        ({"cron": "every morning"}, "cron"),
        ({"name": " "}, "This field is required"),
        ({"formats": ["docx"]}, "Select a valid choice"),
    ],
)
def test_a_bad_pack_is_refused_with_its_reason_and_nothing_saved(client_as, change, message):
    response = client_as("finance").post("/reports/packs/", {**FORM, **change})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ReportPack.objects.exists() and not PeriodicTask.objects.filter(
        task="reports.deliver_pack").exists()  # fmt: skip


def test_admins_and_role_less_users_do_not_edit_packs(client_as, make_user):
    pack = _pack(make_user("finance"))
    for browser in (client_as("admin"), client_as()):
        assert browser.post("/reports/packs/", FORM).status_code == 403
        assert browser.post(f"/reports/packs/{pack.pk}/delete/").status_code == 403
    assert ReportPack.objects.count() == 1
    assert "Daily" in client_as("admin").get("/reports/packs/").content.decode()


def test_beat_fires_a_period_once_and_the_last_build_sends_one_mail(
    make_user, django_capture_on_commit_callbacks
):
    run = large_books.finished_run(10)
    fired = run.finished_at + timedelta(days=1)
    pack = _pack(make_user("finance"))
    delivery = packs.deliver(pack.pk, now=fired)
    assert (delivery.period_from, delivery.period_to) == (run.finished_at.date(),) * 2
    assert packs.deliver(pack.pk, now=fired) is None  # a second beat for the same day
    reports = list(Report.objects.filter(pack_delivery=delivery).order_by("id"))
    assert [r.format for r in reports] == ["json", "csv"]
    building.build(reports[0].pk)
    assert mail.outbox == []  # one report is still queued
    with pytest.MonkeyPatch.context() as patch:
        sent = []
        patch.setattr(packs, "_mail", lambda d, r: sent.append((d.pk, [x.pk for x in r])))
        with django_capture_on_commit_callbacks(execute=True):
            building.build(reports[1].pk)
        assert packs.send_when_built(delivery.pk) is False  # sent once, by the last build
    assert sent == [(delivery.pk, [r.pk for r in reports])]
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.sent_at is not None


def test_the_mail_attaches_the_files_with_their_checksums(make_user, settings):
    run = large_books.finished_run(10)
    pack = _pack(make_user("finance"), formats=["json", "csv"])
    delivery = packs.deliver(pack.pk, now=run.finished_at + timedelta(days=1))
    settings.REPORT_EMAIL_ATTACH_MAX_BYTES = 10**9
    reports = list(Report.objects.filter(pack_delivery=delivery).order_by("id"))
    for report in reports:
        building.build(report.pk)
    packs._mail(delivery, [Report.objects.get(pk=r.pk) for r in reports])
    (message,) = mail.outbox
    assert message.to == ["fay@example.com"]
    assert message.subject == f"Recondesk: Daily, {delivery.period_from} to {delivery.period_to}"
    attached = {name: content for name, content, _type in message.attachments}
    assert len(attached) == 2
    for report in Report.objects.filter(pack_delivery=delivery):
        (content,) = [c for n, c in attached.items() if n.endswith("." + report.format)]
        data = content if isinstance(content, bytes) else content.encode()
        assert hashlib.sha256(data).hexdigest() == report.sha256
        assert report.sha256 in message.body
        assert f"/reports/{report.pk}/" in message.body


def test_a_file_over_the_attachment_limit_is_linked_not_attached(make_user, settings):
    run = large_books.finished_run(10)
    pack = _pack(make_user("finance"), formats=["json"])
    delivery = packs.deliver(pack.pk, now=run.finished_at + timedelta(days=1))
    settings.REPORT_EMAIL_ATTACH_MAX_BYTES = 10
    report = Report.objects.get(pack_delivery=delivery)
    building.build(report.pk)
    packs._mail(delivery, [Report.objects.get(pk=report.pk)])
    (message,) = mail.outbox
    assert message.attachments == [] and "too large to attach" in message.body


def test_a_paused_or_delivered_pack(make_user):
    user = make_user("finance")
    pack = _pack(user)
    packs.set_enabled(pack, enabled=False, by=user)
    assert not PeriodicTask.objects.get(pk=pack.periodic_task_id).enabled
    assert packs.deliver(pack.pk) is None
    packs.set_enabled(pack, enabled=True, by=user)
    assert packs.deliver(pack.pk, now=datetime(2026, 3, 2, 6, tzinfo=UTC)) is not None
    with pytest.raises(packs.PackRefused, match="Pause it instead"):
        packs.delete_pack(pack, by=user)
    fresh = _pack(user, name="Unused")
    task_id = fresh.periodic_task_id
    packs.delete_pack(fresh, by=user)
    assert not PeriodicTask.objects.filter(pk=task_id).exists()


@pytest.mark.parametrize(
    ("period", "today", "expected"),
    [
        ("previous_day", date(2026, 3, 1), (date(2026, 2, 28), date(2026, 2, 28))),
        ("previous_week", date(2026, 3, 9), (date(2026, 3, 2), date(2026, 3, 8))),
        ("previous_month", date(2026, 3, 1), (date(2026, 2, 1), date(2026, 2, 28))),
        ("previous_month", date(2026, 1, 15), (date(2025, 12, 1), date(2025, 12, 31))),
    ],
)
def test_the_period_a_firing_covers(period, today, expected):
    assert packs.period_of(period, today) == expected


def test_packs_through_the_api(make_user):
    finance = token_client(make_user("finance"))
    body = {"name": "Weekly", "formats": ["pdf"], "period": "previous_week",
            "recipients": ["fay@example.com"], "cron": "0 7 * * 1"}  # fmt: skip
    created = finance.post("/api/report-packs/", body, format="json")
    assert created.status_code == 201, created.json()
    pack_id = created.json()["id"]
    paused = finance.put(f"/api/report-packs/{pack_id}/", {**body, "enabled": False},
                         format="json")  # fmt: skip
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    bad = finance.post("/api/report-packs/", {**body, "name": "Other", "cron": "soon"},
                       format="json")  # fmt: skip
    assert bad.status_code == 400 and "cron" in bad.json()["fields"]
    taken = finance.post("/api/report-packs/", body, format="json")
    assert taken.status_code == 400 and taken.json()["message"] == "That name is taken."
    admin = token_client(make_user("admin"))
    assert admin.get(f"/api/report-packs/{pack_id}/").status_code == 200
    assert admin.delete(f"/api/report-packs/{pack_id}/").status_code == 403
    assert finance.delete(f"/api/report-packs/{pack_id}/").status_code == 204
    assert not ReportPack.objects.exists()


def test_a_cron_too_long_or_a_taken_name_writes_nothing(client_as, make_user):
    from django_celery_beat.models import CrontabSchedule

    before = CrontabSchedule.objects.count()
    long_cron = ",".join(str(m) for m in range(60)) + " * * * *"
    response = client_as("finance").post("/reports/packs/", {**FORM, "cron": long_cron})
    assert response.status_code == 200 and "at most 100 characters" in response.content.decode()
    user = make_user("finance")
    _pack(user)
    with pytest.raises(packs.PackInvalid, match="That name is taken"):
        _pack(user, cron="7 7 * * *")
    assert CrontabSchedule.objects.count() == before + 1  # the first pack's only
    assert ReportPack.objects.count() == 1


def test_a_given_up_report_does_not_hold_back_its_packs_mail(make_user):
    from config import claim_sweep

    run = large_books.finished_run(10)
    delivery = packs.deliver(_pack(make_user("finance")).pk,
                             now=run.finished_at + timedelta(days=1))  # fmt: skip
    first, second = Report.objects.filter(pack_delivery=delivery).order_by("id")
    building.build(first.pk)
    Report.objects.filter(pk=second.pk).update(deliveries=claim_sweep.MAX_DELIVERIES)
    assert building.build(second.pk) == {"given_up": True}
    delivery.refresh_from_db()
    assert delivery.status == "sent"


def test_a_damaged_file_is_listed_not_attached(make_user, settings):
    from pathlib import Path

    run = large_books.finished_run(10)
    delivery = packs.deliver(_pack(make_user("finance"), formats=["json"]).pk,
                             now=run.finished_at + timedelta(days=1))  # fmt: skip
    report = Report.objects.get(pack_delivery=delivery)
    building.build(report.pk)
    report.refresh_from_db()
    (Path(settings.REPORTS_DIR) / report.file_name).write_bytes(b"{}")
    packs._mail(delivery, [report])
    (message,) = mail.outbox
    assert message.attachments == []
    assert "not attached, its stored file has 2 bytes" in message.body
