"""Notifications (SPEC 7.2): one grouped message per run and recipient, never twice, to the
people and webhooks the rule set's escalation names; approvers told of corrections waiting for
them (not their proposer); failed runs and report builds told; webhooks signed. Real mail
outbox (Django's locmem backend), a real HTTP receiver and, at the end, a real worker."""

from __future__ import annotations

import copy

import pytest
import redis
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook

from audit.models import AuditEvent
from corrections import outbox
from notifications import tasks
from notifications.models import Notification
from reconciliation.demo import data as demo_data
from reconciliation.engine import rule_definition
from reconciliation.models import Break, BreakObservation, Dataset, Run
from reconciliation.rules import services as rules
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from reports import building
from reports import services as reports
from reports.scope import Wanted
from tests.corrections.proposed import propose_all
from tests.users import new_user
from tests.webhook_receiver import Receiver
from tests.worker import sending_to, wait_until_ended, worker_process


def _with_email(user, address: str):
    user.email = address
    user.save(update_fields=["email"])
    return user


def _rule_set(escalation: list[dict]):
    admin = new_user("admin")
    draft = rules.create_rule_set(name=f"notify {Run.objects.count()} {admin.pk}", by=admin)
    definition = {**copy.deepcopy(rule_definition.DEFAULT), "escalation": escalation}
    return rules.publish(draft, by=admin, definition=definition)


def _run(escalation: list[dict], *, execute: bool = True) -> Run:
    ids = demo_data.load()
    run = runs.start_run(
        type="position",
        internal=Dataset.objects.get(pk=ids["book balances"]),
        external=Dataset.objects.get(pk=ids["kraken ledgers"]),
        rule_set_version=_rule_set(escalation),
    )
    if execute:
        run_execution.execute_run(run.pk)
    return Run.objects.get(pk=run.pk)


# --- The escalation's validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"severity": "dire", "notify": ["risk"]}, "escalation[0].severity"),
        ({"notify": ["risk"]}, "escalation[0]"),
        ({"severity": "high", "value_at_risk_above": "1", "notify": ["risk"]}, "escalation[0]"),
        ({"value_at_risk_above": "lots", "notify": ["risk"]}, "escalation[0].value_at_risk_above"),
        ({"severity": "high", "notify": "risk"}, "escalation[0].notify"),
        ({"severity": "high", "notify": []}, "escalation[0].notify"),
        ({"severity": "high", "notify": ["ops@"]}, "escalation[0].notify[0]"),
        ({"severity": "high", "notify": ["no one here"]}, "escalation[0].notify[0]"),
        ({"severity": "high", "notify": [7]}, "escalation[0].notify"),
        ({"severity": "high", "webhooks": [""]}, "escalation[0].webhooks"),
        ({"severity": "high", "notify": ["risk"], "after_minutes": -1},
         "escalation[0].after_minutes"),
        ({"severity": "high", "notify": ["risk"], "after_minutes": "5"},
         "escalation[0].after_minutes"),
        ({"severity": "high", "notify": ["risk"], "cc": ["x"]}, "escalation[0].cc"),
        ("critical", "escalation[0]"),
    ],
)  # fmt: skip
def test_bad_escalation_entries_are_refused_by_field(rule, path):
    definition = {**copy.deepcopy(rule_definition.DEFAULT), "escalation": [rule]}
    with pytest.raises(rule_definition.DefinitionInvalid) as refused:
        rule_definition.validate(definition)
    assert path in refused.value.errors, refused.value.errors


def test_good_escalation_entries_pass():
    escalation = [
        {
            "severity": "critical",
            "notify": ["risk", "alice", "ops@example.com"],
            "after_minutes": 0,
        },
        {"value_at_risk_above": "250000", "notify": ["finance"], "webhooks": ["pager"]},
        {"severity": "high", "webhooks": ["pager"], "after_minutes": 60},
    ]
    definition = {**copy.deepcopy(rule_definition.DEFAULT), "escalation": escalation}
    assert rule_definition.validate(definition).escalation == tuple(escalation)


# --- A run's breaks ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_one_message_per_run_and_person_however_many_breaks_and_never_twice(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    risk = _with_email(new_user("risk", username="riskone"), "Risk.One@example.com")
    _with_email(new_user("finance"), "fin@example.com")  # not named: not told
    run = _run([
        # the same person by role, by username and by address: told once
        {"severity": "low", "notify": ["risk", "riskone", "risk.one@example.com"]},
        {"value_at_risk_above": "0", "notify": ["ops@example.com"]},
    ])  # fmt: skip
    seen = BreakObservation.objects.filter(run=run).count()
    assert seen >= 2, "the demo run has several breaks"
    mail.outbox.clear()

    assert tasks.run_ended(run.pk) == {"sent": 2}
    assert tasks.run_ended(run.pk) == {"sent": 0}  # the task delivered twice
    assert tasks.retry_due() == {"sent": 0, "retrying": 0, "failed": 0}

    assert sorted(m.to[0] for m in mail.outbox) == ["ops@example.com", "risk.one@example.com"]
    message = next(m for m in mail.outbox if m.to == ["risk.one@example.com"])
    assert f"Run {run.pk}" in message.subject and "threshold breached" in message.subject
    assert f"ended with {seen} breaks" in message.body
    assert f"{settings.SITE_URL}/breaks/" in message.body and f"/runs/{run.pk}/" in message.body
    assert "Threshold breached: value at risk" in message.body and "above 0.00 USD" in message.body
    rows = Notification.objects.filter(subject_id=run.pk, kind="run_breaks")
    assert {(r.recipient, r.status, r.user_id) for r in rows} == {
        ("risk.one@example.com", "sent", risk.pk), ("ops@example.com", "sent", None)}  # fmt: skip
    assert AuditEvent.objects.filter(action="notification.sent").count() == 2


@pytest.mark.django_db
def test_a_later_step_tells_only_of_breaks_still_unresolved(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    run = _run([{"severity": "low", "notify": ["late@example.com"], "after_minutes": 30}])
    mail.outbox.clear()
    queue = "test-notifications-discarded"
    try:
        with sending_to(queue):
            assert tasks.run_ended(run.pk) == {"sent": 0}  # step 30 is queued, 30 minutes on
    finally:
        redis.Redis.from_url(settings.REDIS_URL).delete(queue)
    seen = list(BreakObservation.objects.filter(run=run).order_by("break_record_id"))
    Break.objects.filter(pk=seen[0].break_record_id).update(
        status=Break.Status.RESOLVED, resolved_at=timezone.now()
    )
    assert tasks.run_ended(run.pk, 30) == {"sent": 1}
    assert tasks.run_ended(run.pk, 30) == {"sent": 0}
    [message] = mail.outbox
    assert f"ended with {len(seen) - 1} breaks still unresolved" in message.body


@pytest.mark.django_db
def test_a_run_nobody_is_to_be_told_of_sends_nothing(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    run = _run([{"value_at_risk_above": "1000000000", "notify": ["ops@example.com"]}])
    mail.outbox.clear()
    assert tasks.run_ended(run.pk) == {"sent": 0}
    assert mail.outbox == [] and not Notification.objects.exists()


@pytest.mark.django_db
def test_a_failed_run_is_told_once(settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _with_email(new_user("risk"), "risk@example.com")
    run = _run([{"severity": "critical", "notify": ["risk"]}], execute=False)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    with django_capture_on_commit_callbacks() as callbacks:
        assert run_execution.finish(run, Run.Status.FAILED, "The exchange file is unreadable.")
    assert callbacks, "the failure is signalled after commit"
    mail.outbox.clear()
    assert tasks.run_ended(run.pk) == {"sent": 1}
    assert tasks.run_ended(run.pk) == {"sent": 0}
    [message] = mail.outbox
    assert message.to == ["risk@example.com"] and "failed" in message.subject
    assert "The exchange file is unreadable." in message.body


# --- Corrections waiting -----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_approver_is_told_of_a_runs_waiting_corrections_the_proposer_is_not(
    make_user, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    proposed = propose_all(make_user)
    _with_email(proposed.proposer, "proposer@example.com")
    _with_email(new_user("risk"), "approver@example.com")
    _with_email(new_user("finance"), "finance@example.com")  # may not approve
    mail.outbox.clear()
    assert tasks.approvals_waiting(proposed.run.pk) == {"sent": 1}
    assert tasks.approvals_waiting(proposed.run.pk) == {"sent": 0}
    [message] = mail.outbox
    assert message.to == ["approver@example.com"]
    assert f"3 corrections of run {proposed.run.pk} wait for your approval" in message.subject
    assert f"/corrections/{proposed.one.pk}/" in message.body
    assert "mine=to_approve" in message.body


# --- Report builds -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failed_report_build_tells_its_requester_once(
    settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    user = _with_email(new_user("risk"), "asker@example.com")
    run = _run([])
    report = reports.request_report(Wanted(run_id=run.pk), format_="json", by=user)
    Run.objects.filter(pk=run.pk).update(status="failed")
    with django_capture_on_commit_callbacks() as callbacks:
        building.build(report.pk)
    assert callbacks
    mail.outbox.clear()
    assert tasks.report_failed(report.pk) == {"sent": 1}
    assert tasks.report_failed(report.pk) == {"sent": 0}
    [message] = mail.outbox
    assert message.to == ["asker@example.com"] and "only a succeeded run" in message.body


# --- Webhooks ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_webhook_arrives_signed_once_and_a_failed_one_is_retried(settings):
    receiver = Receiver(answer=lambda number: (503, False) if number == 0 else (200, True))
    receiver.start()
    try:
        _, secret = outbox.create_endpoint(name="pager", url=receiver.url, by=new_user("admin"))
        run = _run([{"severity": "low", "webhooks": ["pager", "nobody-by-this-name"]}])
        assert tasks.run_ended(run.pk) == {"sent": 0}  # the receiver answered 503
        row = Notification.objects.get(channel="webhook")
        assert (row.status, row.attempts, row.last_error[:8]) == ("retrying", 1, "HTTP 503")
        Notification.objects.filter(pk=row.pk).update(next_attempt_at=row.created_at)
        assert tasks.retry_due()["sent"] == 1
        assert tasks.run_ended(run.pk) == {"sent": 0} and tasks.retry_due()["sent"] == 0
    finally:
        receiver.stop()
    assert len(receiver.requests) == 2
    request = receiver.requests[1]
    message = Webhook(secret).verify(request.body, request.headers)
    assert message["type"] == "notification.run_breaks"
    data = message["data"]
    assert data["run"] == run.pk and sum(data["counts"].values()) == data["break_count"] >= 2
    assert data["top_breaks"][0]["url"].startswith(f"{settings.SITE_URL}/breaks/")
    assert request.headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_on_a_real_worker_ends_in_one_signed_webhook():
    receiver = Receiver().start()
    try:
        _, secret = outbox.create_endpoint(name="pager", url=receiver.url, by=new_user("admin"))
        on = {"NOTIFICATIONS_ENABLED": "true"}
        with worker_process(extra_env=on) as worker, sending_to(worker.queue):
            run = _run([{"severity": "low", "webhooks": ["pager"]}], execute=False)
            wait_until_ended(run, worker)
            assert receiver.wait_for(1, timeout=30), worker.log()[-4000:]
    finally:
        receiver.stop()
    [request] = receiver.requests
    assert Webhook(secret).verify(request.body, request.headers)["data"]["run"] == run.pk
    assert Notification.objects.get().status == "sent"
