"""The outbox under a receiver that fails and goes away: a thousand events all delivered, in
order per correction, none lost, duplicates only as the same event; relays at once share the
work without sending one delivery twice; and a real worker relays right after a publish."""

import contextlib
import random
import threading
import time
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.db.models import Min
from django.utils import timezone
from standardwebhooks import Webhook

from corrections import outbox, services
from corrections.models import Correction, Delivery, DeliveryAttempt, OutboxEvent
from reconciliation.models import Break
from tests.demo_runs import finished_position_run
from tests.webhook_receiver import Receiver
from tests.worker import sending_to, worker_process

EVENTS = 1000


def _corrections(make_user, wanted: int) -> list[Correction]:
    """`wanted` corrections: those proposed for the demo run's breaks (it has a few), and as many
    rejected copies of the first as it takes (what an event is of does not matter to the relay;
    that there are many corrections, each with its own order, does)."""
    run = finished_position_run()
    proposer = make_user("risk")
    breaks = Break.objects.filter(last_seen_run=run, suggested_value__isnull=False).order_by("id")
    made = []
    for brk in breaks[:wanted]:
        with contextlib.suppress(services.CorrectionRefused):
            made.append(services.propose(brk, by=proposer, reason="for the outbox"))
    assert made, "the demo run has no correctable break"
    model = made[0]
    copies = []
    for _ in range(wanted - len(made)):
        copy = Correction.objects.get(pk=model.pk)
        copy.pk, copy.applied_set, copy.supersedes = None, None, None
        copy.status, copy.rejection_reason = Correction.Status.REJECTED, "a copy for the outbox"
        copy.rejected_at = copy.approved_at = timezone.now()
        copies.append(copy)
    return made + Correction.objects.bulk_create(copies)


def _publish(corrections, count: int) -> list[OutboxEvent]:
    with transaction.atomic():
        return outbox.publish_many(
            "correction.applied",
            [(corrections[i % len(corrections)], {"n": str(i), "delta": "0.000000000000000001"})
             for i in range(count)],
        )  # fmt: skip


def _received_in_order(receiver, events):
    """Per correction, what the receiver took arrives with sequences that never go back (a
    duplicate comes right after its first copy, before the next event), and every event once."""
    sequence_of = {e.event_id: (e.correction_id, e.sequence) for e in events}
    arrived = defaultdict(list)
    for request in receiver.taken():
        correction, sequence = sequence_of[request.headers["webhook-id"]]
        arrived[correction].append(sequence)
    for correction, sequences in arrived.items():
        assert sequences == sorted(sequences), f"correction {correction} out of order"
        expected = sorted(e.sequence for e in events if e.correction_id == correction)
        assert sorted(set(sequences)) == expected
    return arrived


@pytest.mark.django_db(transaction=True)  # committed, as the relay's transactions are
def test_a_thousand_events_survive_failures_and_an_outage(make_user):
    rng = random.Random(20261203)

    def answer(number):
        draw = rng.random()
        if draw < 0.2:
            return 500, False  # refused before taking it
        if draw < 0.3:
            return 502, True  # taken, but the answer was lost on the way: a duplicate follows
        return 200, True

    receiver = Receiver(answer=answer).start()
    admin = make_user("admin")
    _, secret = outbox.create_endpoint(name="trading", url=receiver.url, by=admin)
    corrections = _corrections(make_user, 50)
    _publish(corrections, EVENTS)
    # With those the auto-approved corrections published when they were applied.
    events = list(OutboxEvent.objects.all())
    assert len(events) >= EVENTS
    clock = timezone.now()
    jitter = random.Random(1)
    outage_from, outage_seen = None, False
    started = time.monotonic()
    try:
        for _ in range(20_000):
            if not outage_seen and len(receiver.requests) >= 300:
                receiver.stop()  # the port closes: connections are refused
                outage_from, outage_seen = clock, True
            if outage_from and clock >= outage_from + timedelta(minutes=10):
                receiver.start()  # back, on the same port
                outage_from = None
            done = outbox.relay(now=clock, rng=jitter, limit=100)
            pending = Delivery.objects.filter(status="pending")
            if not pending.exists():
                break
            if done.attempts == 0:  # nothing due now: the clock moves to the next retry
                clock = pending.filter(next_attempt_at__gt=clock).aggregate(
                    first=Min("next_attempt_at")
                )["first"]
    finally:
        receiver.stop()
    elapsed = time.monotonic() - started

    assert Delivery.objects.filter(status="delivered").count() == len(events)
    taken = receiver.taken()
    assert {r.headers["webhook-id"] for r in taken} == {e.event_id for e in events}  # none lost
    _received_in_order(receiver, events)
    # Duplicates are only ever the same event again: same id, same body.
    bodies = defaultdict(set)
    for request in taken:
        bodies[request.headers["webhook-id"]].add(request.body)
    assert all(len(b) == 1 for b in bodies.values())
    assert len(taken) > len(events)  # the lost answers did make duplicates
    # Every request was signed with the endpoint's secret.
    for request in receiver.requests:
        Webhook(secret).verify(request.body, request.headers)
    refused = DeliveryAttempt.objects.filter(response_status__isnull=True)
    assert refused.exists() and "Connection refused" in refused.first().error
    assert DeliveryAttempt.objects.count() == len(receiver.requests) + refused.count()
    assert elapsed < 120, f"{elapsed:.1f} s"


@pytest.mark.django_db(transaction=True)
def test_relays_at_once_send_each_delivery_once_and_in_order(make_user):
    receiver = Receiver().start()
    admin = make_user("admin")
    outbox.create_endpoint(name="trading", url=receiver.url, by=admin)
    _publish(_corrections(make_user, 5), 200)
    events = list(OutboxEvent.objects.all())
    failures = []

    def relay_until_empty():
        try:
            while Delivery.objects.filter(status="pending").exists():
                outbox.relay(limit=10)
        except Exception as error:  # collected and failed on below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=relay_until_empty) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        receiver.stop()

    assert failures == []
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == len(events)  # nobody sent a delivery another held
    _received_in_order(receiver, events)


@pytest.mark.django_db(transaction=True)
def test_a_worker_relays_after_the_commit_and_its_sweep_retries(make_user):
    # The first answer fails; the retry comes from the worker's sweep, a second later.
    receiver = Receiver(answer=lambda number: (503, False) if number == 0 else (200, True))
    receiver.start()
    admin = make_user("admin")
    correction = _corrections(make_user, 3)[0]
    # Made after the corrections: what their automatic ones published is not for it.
    _, secret = outbox.create_endpoint(name="trading", url=receiver.url, by=admin)
    with pytest.raises(RuntimeError, match="inside the transaction"):
        outbox.publish("correction.applied", correction)  # on its own, it could lose an event
    quick = {"CLAIM_SWEEP_INTERVAL": "1", "OUTBOX_RETRY_DELAYS": "1,1"}
    try:
        with worker_process(extra_env=quick) as worker, sending_to(worker.queue):
            with transaction.atomic():
                event = outbox.publish("correction.applied", correction)
                assert receiver.requests == []  # nothing leaves before the commit
            assert receiver.wait_for(2, timeout=30), worker.log()[-4000:]
    finally:
        receiver.stop()
    assert [r.headers["webhook-id"] for r in receiver.requests] == [event.event_id] * 2
    assert [r.status for r in receiver.requests] == [503, 200]
    request = receiver.requests[1]
    assert Webhook(secret).verify(request.body, request.headers)["data"]["correction"] == (
        correction.pk
    )
