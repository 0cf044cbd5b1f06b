"""Outbound corrections (SPEC 3.5): published in the transaction that applies or rolls back,
relayed to a real HTTP receiver signed per Standard Webhooks, retried, in order per correction."""

import itertools
import json
import random
import socket
import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from audit.models import AuditEvent
from corrections import outbox, services
from corrections.models import Correction, Delivery, DeliveryAttempt, OutboxEvent
from reconciliation.models import Break
from tests.demo_runs import finished_position_run
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def admin_user(make_user):
    return make_user("admin")


def _endpoint(receiver, admin_user, name="trading"):
    return outbox.create_endpoint(name=name, url=receiver.url, by=admin_user)


def _applied(make_user) -> Correction:
    """A correction of the demo run, proposed, approved by others and applied."""
    proposer, first, second = make_user("risk"), make_user("risk"), make_user("risk")
    run = finished_position_run()
    brk = (
        Break.objects.filter(last_seen_run=run, status="open", suggested_value__isnull=False)
        .exclude(field="value")
        .order_by("id")
        .first()
    )
    correction = services.propose(brk, by=proposer, reason="book missed the exchange's fill")
    if correction.status == "pending":
        for approver in (first, second)[: correction.approvals_required]:
            correction = services.approve(correction, by=approver)
        correction = services.apply(correction, by=first)
    assert correction.status == "applied"
    return correction


def _pending_correction(make_user) -> Correction:
    run = finished_position_run()
    brk = Break.objects.filter(last_seen_run=run, suggested_value__isnull=False).first()
    return services.propose(brk, by=make_user("risk"), reason="for the outbox")


def test_apply_and_roll_back_reach_the_receiver_signed_and_in_order(
    make_user, receiver, admin_user
):
    _, secret = _endpoint(receiver, admin_user)
    assert secret.startswith("whsec_")
    correction = _applied(make_user)
    correction = services.roll_back(correction, by=make_user("risk"), reason="fill reversed")
    events = list(OutboxEvent.objects.filter(correction=correction).order_by("sequence"))
    assert [(e.type, e.sequence) for e in events] == [
        ("correction.applied", 1),
        ("correction.rolled_back", 2),
    ]

    done = outbox.relay()

    assert done.delivered == 2
    assert [r.headers["webhook-id"] for r in receiver.requests] == [e.event_id for e in events]
    messages = [Webhook(secret).verify(r.body, r.headers) for r in receiver.requests]
    assert [m["type"] for m in messages] == ["correction.applied", "correction.rolled_back"]
    applied = messages[0]["data"]
    assert applied["correction"] == correction.pk and applied["sequence"] == 1
    # Exact decimals, as strings: the very digits stored.
    assert applied["delta"] == format(correction.delta, "f")
    assert applied["corrected_value"] == format(correction.corrected_value, "f")
    assert messages[1]["data"]["reversal_set"] == correction.reversal_set_id
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
    assert DeliveryAttempt.objects.filter(response_status=200).count() == 2
    # A message altered on the way does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(receiver.requests[0].body.replace("applied", "rolled"),
                               receiver.requests[0].headers)  # fmt: skip


def test_publish_in_a_rolled_back_transaction_writes_nothing(make_user, receiver, admin_user):
    _endpoint(receiver, admin_user)
    correction = _pending_correction(make_user)
    with pytest.raises(RuntimeError, match="changed my mind"), transaction.atomic():
        outbox.publish("correction.applied", correction, {"x": "1"})
        assert Delivery.objects.count() == 1
        raise RuntimeError("changed my mind")
    assert not OutboxEvent.objects.exists()
    assert not Delivery.objects.exists()
    assert outbox.relay().attempts == 0
    assert receiver.requests == []


def test_a_stale_apply_publishes_nothing(make_user, receiver, admin_user):
    """A refused apply rolls back, the outbox with it."""
    _endpoint(receiver, admin_user)
    correction = _pending_correction(make_user)
    # No endpoint learns of a correction that was not applied (the approval path writes none).
    assert not OutboxEvent.objects.filter(correction=correction).exists()
    with pytest.raises(services.CorrectionRefused):
        services.apply(correction, by=make_user("risk"))  # pending: refused
    assert not OutboxEvent.objects.exists()


def test_a_later_event_waits_for_the_earlier_one(make_user, receiver, admin_user):
    receiver.answer = lambda number: (503, False) if number == 0 else (200, True)
    _endpoint(receiver, admin_user)
    correction = _pending_correction(make_user)
    first = outbox.publish("correction.applied", correction, {"step": "1"})
    second = outbox.publish("correction.rolled_back", correction, {"step": "2"})
    now = timezone.now()

    assert outbox.relay(now=now).retrying == 1
    # The second is due, but is not sent while the first is undelivered.
    assert [r.headers["webhook-id"] for r in receiver.requests] == [first.event_id]

    later = now + timedelta(minutes=1)
    assert outbox.relay(now=later).delivered == 2
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids == [first.event_id, first.event_id, second.event_id]


@override_settings(OUTBOX_RETRY_DELAYS=[5, 30, 120, 600], OUTBOX_RETRY_JITTER=0.2)
def test_failures_back_off_then_give_up_and_a_replay_delivers(make_user, receiver, admin_user):
    receiver.answer = lambda number: (500, False)
    _endpoint(receiver, admin_user)
    event = outbox.publish("correction.applied", _pending_correction(make_user), {"a": "1"})
    clock = timezone.now()
    rng = random.Random(7)
    while True:
        outbox.relay(now=clock, rng=rng)
        delivery = Delivery.objects.get(event=event)
        if delivery.status != "pending":
            break
        clock = delivery.next_attempt_at

    assert delivery.status == "failed"
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [a.number for a in attempts] == [1, 2, 3, 4, 5]
    assert all(a.response_status == 500 for a in attempts)
    gaps = [
        (b.requested_at - a.requested_at).total_seconds() for a, b in itertools.pairwise(attempts)
    ]
    for gap, delay in zip(gaps, [5, 30, 120, 600], strict=True):
        assert delay * 0.8 <= gap <= delay * 1.2
    assert (
        len(set(round(g / d, 6) for g, d in zip(gaps, [5, 30, 120, 600], strict=True))) > 1
    )  # jittered

    receiver.answer = lambda number: (204, True)
    outbox.replay(delivery, by=admin_user)
    assert AuditEvent.objects.filter(action="webhook_delivery.replayed").count() == 1
    assert outbox.relay().delivered == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 6)


def test_the_default_schedule_gives_up_after_about_a_day():
    from django.conf import settings

    total = sum(settings.OUTBOX_RETRY_DELAYS)
    assert 20 * 3600 <= total <= 26 * 3600
    assert sorted(settings.OUTBOX_RETRY_DELAYS) == settings.OUTBOX_RETRY_DELAYS


def test_410_gone_disables_the_endpoint(make_user, receiver, admin_user):
    receiver.answer = lambda number: (410, False)
    endpoint, _ = _endpoint(receiver, admin_user)
    correction = _pending_correction(make_user)
    outbox.publish("correction.applied", correction, {"a": "1"})
    outbox.publish("correction.rolled_back", correction, {"a": "2"})

    done = outbox.relay()

    assert done.disabled == ["trading"]
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "410" in endpoint.disabled_reason
    assert AuditEvent.objects.filter(action="webhook_endpoint.disabled").count() == 1
    assert outbox.relay().attempts == 0  # nothing more is sent to it
    assert len(receiver.requests) == 1
    # Events published meanwhile are not queued for a disabled endpoint.
    outbox.publish("correction.applied", correction, {"a": "3"})
    assert Delivery.objects.count() == 2
    assert OutboxEvent.objects.count() == 3

    receiver.answer = lambda number: (200, True)
    outbox.change_endpoint(endpoint, by=admin_user, name="trading", url=receiver.url, enabled=True)
    assert outbox.relay().delivered == 2
    assert Delivery.objects.filter(status="delivered").count() == 2


def test_during_a_rotations_grace_both_secrets_verify(make_user, receiver, admin_user):
    endpoint, old = _endpoint(receiver, admin_user)
    endpoint, new = outbox.rotate_secret(endpoint, by=admin_user, grace=timedelta(hours=2))
    assert new != old and new.startswith("whsec_")
    assert AuditEvent.objects.filter(action="webhook_endpoint.secret_rotated").count() == 1
    entry = AuditEvent.objects.get(action="webhook_endpoint.secret_rotated")
    assert old not in json.dumps(entry.after) and new not in json.dumps(entry.after)
    correction = _pending_correction(make_user)
    outbox.publish("correction.applied", correction, {"a": "1"})
    outbox.publish("correction.rolled_back", correction, {"a": "2"})

    outbox.relay(limit=1)
    during = receiver.requests[0]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(during.body, during.headers)["data"]["a"] == "1"
    assert Webhook(new).verify(during.body, during.headers)["data"]["a"] == "1"

    outbox.relay(now=timezone.now() + timedelta(hours=3))  # the grace period has ended
    after = receiver.requests[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(new).verify(after.body, after.headers)["data"]["a"] == "2"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_delivery_attempts_are_append_only(make_user, receiver, admin_user):
    _endpoint(receiver, admin_user)
    outbox.publish("correction.applied", _pending_correction(make_user), {"a": "1"})
    outbox.relay()
    attempt = DeliveryAttempt.objects.get()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        DeliveryAttempt.objects.filter(pk=attempt.pk).update(response_status=500)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        DeliveryAttempt.objects.filter(pk=attempt.pk).delete()
    assert DeliveryAttempt.objects.get().response_status == 200


def test_only_managers_manage_endpoints_and_replay(make_user, receiver):
    with pytest.raises(outbox.NotAllowed):
        outbox.create_endpoint(name="x", url=receiver.url, by=make_user("risk"))
    admin = make_user("admin")
    with pytest.raises(outbox.EndpointRefused):
        outbox.create_endpoint(name="x", url="file:///etc/passwd", by=admin)
    first, _ = outbox.create_endpoint(name="first", url=receiver.url, by=admin)
    outbox.create_endpoint(name="second", url=receiver.url, by=admin)
    with pytest.raises(outbox.EndpointRefused, match="named 'second' already"):
        outbox.change_endpoint(first, by=admin, name="second", url=receiver.url, enabled=True)
    with pytest.raises(outbox.NotAllowed):
        outbox.rotate_secret(first, by=make_user("risk"))


def test_a_runs_automatic_corrections_publish_one_event_each_in_bulk(make_user, receiver,
                                                                      admin_user):  # fmt: skip
    _endpoint(receiver, admin_user)
    run = finished_position_run()
    services.propose_for_run(run)  # those within the auto-correction limits are applied
    first, second = make_user("risk"), make_user("risk")
    for correction in Correction.objects.filter(run=run, status="pending"):
        for approver in (first, second)[: correction.approvals_required]:
            services.approve(correction, by=approver)
    assert services.apply_run(run, by=first) > 1  # the rest at once, one transaction
    applied = Correction.objects.filter(run=run, status="applied")
    events = OutboxEvent.objects.filter(correction__in=applied)
    assert events.count() == applied.count() == Delivery.objects.count()
    assert set(events.values_list("type", "sequence")) == {("correction.applied", 1)}

    # Publishing is a fixed number of statements, however many corrections.
    corrections = list(applied.select_related("dataset__account"))
    with CaptureQueriesContext(connection) as one, transaction.atomic():
        outbox.publish_many("correction.rolled_back", corrections[:1])
    with CaptureQueriesContext(connection) as many, transaction.atomic():
        outbox.publish_many("correction.rolled_back", corrections)
    assert len(many) == len(one)
    assert set(
        OutboxEvent.objects.filter(type="correction.rolled_back").values_list("sequence")
    ) == {(2,), (3,)}


def test_a_relay_stops_at_its_limit_and_says_more_may_be_due(make_user, receiver, admin_user):
    _endpoint(receiver, admin_user)
    correction = _pending_correction(make_user)
    for step in range(3):
        outbox.publish("correction.applied", correction, {"step": str(step)})
    first = outbox.relay(limit=2)
    assert (first.delivered, first.more) == (2, True)
    second = outbox.relay(limit=2)
    assert (second.delivered, second.more) == (1, False)


def test_garbage_instead_of_http_is_an_attempt_that_failed(make_user, admin_user):
    """A receiver answering something that is not HTTP is recorded and retried, never a crash
    of the relay (which would leave the delivery unrecorded and try it again at once)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_garbage():
        connection_, _ = server.accept()
        with connection_:
            connection_.recv(65536)
            connection_.sendall(b"this is not http\r\n\r\n")

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    outbox.create_endpoint(name="odd", url=f"http://127.0.0.1:{port}/", by=admin_user)
    outbox.publish("correction.applied", _pending_correction(make_user), {"a": "1"})
    try:
        done = outbox.relay()
    finally:
        thread.join(timeout=10)
        server.close()
    assert done.retrying == 1
    attempt = DeliveryAttempt.objects.get()
    assert attempt.response_status is None and attempt.error
