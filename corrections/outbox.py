"""Publishing applied and rolled-back corrections to the trading system (SPEC 3.5): an outbox.

`publish` writes the event, and a delivery for each enabled endpoint, in the transaction that
changes the correction: the change and the news of it commit together or not at all (no event
for a rolled-back apply, no applied correction without its event). After commit, the relay is
sent (and after every workers' sweep, for retries: config/claim_sweep.after_each_sweep).

The relay (`relay`) takes due deliveries one at a time with `SELECT ... FOR UPDATE SKIP LOCKED`
(several relays share the work, none sends a delivery another holds) and sends each signed
(corrections/webhooks.py) while holding it: a relay that dies mid-send leaves it pending, sent
again later. Delivery is at least once; receivers drop duplicates by the `webhook-id` (the
event id). Order: per endpoint and correction, event n is not attempted while an earlier event
of that correction to that endpoint is undelivered (a receiver never sees a roll-back before
the apply it undoes). A 2xx delivers; 410 Gone disables the endpoint (its deliveries wait until
it is enabled again); anything else is retried after the next delay of OUTBOX_RETRY_DELAYS,
with jitter, and given up after the last.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.access import has_capability
from audit import services as audit
from config import copy_insert
from config.errors import DomainError
from corrections import metrics, sealing, task_queue, webhooks
from corrections.models import Correction, Delivery, DeliveryAttempt, OutboxEvent, WebhookEndpoint

logger = logging.getLogger(__name__)

APPLIED = "correction.applied"
ROLLED_BACK = "correction.rolled_back"
D = Delivery.Status


# Endpoints are integrations, as sources and exchange credentials are: the same capability.
MANAGE = "manage_sources"


class EndpointRefused(DomainError):
    code = "webhook_endpoint_refused"


class NotAllowed(DomainError):
    code = "permission_denied"


def _require(user, doing: str) -> None:
    if not has_capability(user, MANAGE):
        raise NotAllowed(f"You may not {doing}.")


# --- Publishing --------------------------------------------------------------------------------


def correction_payload(correction: Correction) -> dict:
    """What the trading system is told of a correction: its change, with exact decimal strings."""
    return {
        "correction": correction.pk,
        "status": correction.status,
        "run": correction.run_id,
        "break": correction.break_record_id,
        "account": correction.account_id,
        # The dataset and its account are loaded with the corrections being applied (no query).
        "account_code": correction.dataset.account.code,
        "dataset": correction.dataset_id,
        "record_kind": correction.record_kind,
        "asset": correction.asset,
        "target": correction.target,
        "field": correction.field,
        "operation": correction.operation,
        "original_value": _exact(correction.original_value),
        "corrected_value": _exact(correction.corrected_value),
        "delta": _exact(correction.delta),
        "impact_rc": _exact(correction.impact_rc),
        "reporting_currency": correction.reporting_currency,
        "original_text": correction.original_text,
        "corrected_text": correction.corrected_text,
        "trade_row": correction.trade_row,
        "applied_set": correction.applied_set_id,
        # A run's corrections being applied may be plain rows without the later columns.
        "reversal_set": getattr(correction, "reversal_set_id", None),
        "applied_at": _when(getattr(correction, "applied_at", None)),
        "rolled_back_at": _when(getattr(correction, "rolled_back_at", None)),
    }


def _exact(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def publish(event_type: str, correction: Correction, payload: dict | None = None) -> OutboxEvent:
    """Queue one event of `correction` for every enabled endpoint, in the caller's transaction."""
    event = publish_many(event_type, [(correction, payload)])[0]
    return OutboxEvent(**{f.attname: getattr(event, f.attname) for f in OutboxEvent._meta.fields})


def publish_many(event_type: str, items, *, new: bool = False, endpoints: list[int] | None = None,
                 relay: bool = True) -> list[SimpleNamespace]:  # fmt: skip
    """Queue one event per correction (`items`: corrections, or (correction, payload) pairs),
    inserted with COPY (a run's automatic corrections are tens of thousands); must run inside
    the transaction that changed them, which holds them locked (so each correction's next
    sequence number is this transaction's to take). `new`: corrections being stored in this
    transaction, which have no events yet. `endpoints`: the enabled endpoints' ids, read once by
    a caller publishing in parts (`enabled_endpoints`), who then asks for one relay itself
    (`relay=False`, then `relay_when_committed`). Returns the events' rows."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("publish inside the transaction that changes the correction")
    pairs = [item if isinstance(item, tuple) else (item, None) for item in items]
    if not pairs:
        return []
    now = timezone.now()
    last = {} if new else _last_sequences([correction.pk for correction, _ in pairs])
    events = []
    for correction, payload in pairs:
        last[correction.pk] = last.get(correction.pk, 0) + 1
        events.append(
            SimpleNamespace(
                event_id=f"evt_{uuid.uuid4().hex}", type=event_type, correction_id=correction.pk,
                sequence=last[correction.pk], created_at=now,
                payload=correction_payload(correction) if payload is None else payload,
            )
        )  # fmt: skip
    copy_insert.insert_rows(OutboxEvent, events)
    endpoints = enabled_endpoints() if endpoints is None else endpoints
    copy_insert.insert_rows(
        Delivery,
        [
            SimpleNamespace(event_id=event.pk, endpoint_id=endpoint,
                            correction_id=event.correction_id, sequence=event.sequence,
                            next_attempt_at=now, created_at=now, changed_at=now)
            for event in events
            for endpoint in endpoints
        ],
    )  # fmt: skip
    if relay:
        relay_when_committed(endpoints)
    return events


def relay_when_committed(endpoints: list[int]) -> None:
    """Have a worker relay the events once the transaction commits (if any endpoint wants them)."""
    if endpoints:
        transaction.on_commit(task_queue.relay_outbox)


def enabled_endpoints() -> list[int]:
    return list(WebhookEndpoint.objects.filter(enabled=True).values_list("pk", flat=True))


def _last_sequences(ids: list[int]) -> dict[int, int]:
    """{correction id: its last event's sequence}, for those with events."""
    table = connection.ops.quote_name(OutboxEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT correction_id, max(sequence) FROM {table} "  # noqa: S608
            "WHERE correction_id = ANY(%s::bigint[]) GROUP BY correction_id",
            [copy_insert.int_array(ids)],
        )
        return dict(cursor.fetchall())


def message_of(event: OutboxEvent) -> dict:
    """The Standard Webhooks message: type, timestamp and the event's data."""
    return {
        "type": event.type,
        "timestamp": event.created_at.isoformat(),
        "data": {**event.payload, "event": event.event_id, "sequence": event.sequence},
    }


# --- Relaying ----------------------------------------------------------------------------------


@dataclass
class Relayed:
    """What one relay pass did."""

    delivered: int = 0
    retrying: int = 0
    given_up: int = 0
    disabled: list[str] = field(default_factory=list)
    more: bool = False

    @property
    def attempts(self) -> int:
        return self.delivered + self.retrying + self.given_up + len(self.disabled)


def relay(*, now: datetime | None = None, limit: int = 1000, seconds: float | None = None,
          rng: random.Random | None = None) -> Relayed:  # fmt: skip
    """Attempt due deliveries, oldest due first, up to `limit` of them or for about `seconds`;
    what came of them (`more`: it stopped with deliveries perhaps still due).

    `now` is the clock that says what is due and when to retry (tests move it); `rng` draws the
    jitter. Each delivery is one transaction: locked, sent, its attempt recorded, committed.
    """
    done = Relayed()
    rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
    until = None if seconds is None else time.monotonic() + seconds
    for _ in range(limit):
        if until is not None and time.monotonic() > until:
            done.more = True
            break
        moment = now or timezone.now()
        with transaction.atomic():
            delivery = _next_due(moment)
            if delivery is None:
                return done
            _attempt(delivery, moment, rng, done)
    else:
        done.more = True
    return done


def _next_due(moment: datetime) -> Delivery | None:
    """The oldest due delivery no other relay holds and no earlier event of its correction
    waits before (to the same endpoint), locked; None if there is none now."""
    # The latest earlier undelivered event, looked up backwards in the partial index of
    # undelivered deliveries: for one held back, that is the one just before (one step).
    waiting_before = Subquery(
        Delivery.objects.filter(
            endpoint=OuterRef("endpoint"), correction=OuterRef("correction"),
            sequence__lt=OuterRef("sequence"),
        ).exclude(status=D.DELIVERED).order_by("-sequence").values("sequence")[:1]
    )  # fmt: skip
    # Ids only, joined to nothing; the delivery itself is read once chosen.
    pk = (
        Delivery.objects.select_for_update(skip_locked=True)
        .annotate(waiting_before=waiting_before)
        .filter(status=D.PENDING, next_attempt_at__lte=moment, waiting_before__isnull=True,
                endpoint__in=WebhookEndpoint.objects.filter(enabled=True).values("pk"))
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)
        .first()
    )  # fmt: skip
    if pk is None:
        return None
    return Delivery.objects.select_related("event", "endpoint").get(pk=pk)


def _attempt(delivery: Delivery, moment: datetime, rng: random.Random, done: Relayed) -> None:
    endpoint, event = delivery.endpoint, delivery.event
    try:
        signing = active_secrets(endpoint, moment)
    except sealing.SecretUnreadable as unreadable:
        # Nothing is sent unsigned: a failed attempt saying why, retried as any other (the
        # delivery goes out once the key that sealed the secret is configured again).
        signing, outcome = [], webhooks.Outcome(status=None, error=str(unreadable), duration_ms=0)
    else:
        outcome = webhooks.send(
            endpoint.url, msg_id=event.event_id, body=webhooks.body_of(message_of(event)),
            signing_secrets=signing, timeout=settings.OUTBOX_HTTP_TIMEOUT,
        )  # fmt: skip
    delivery.attempts += 1
    DeliveryAttempt.objects.create(
        delivery=delivery, number=delivery.attempts, requested_at=moment,
        response_status=outcome.status, error=outcome.error, duration_ms=outcome.duration_ms,
        signatures=len(signing),
    )  # fmt: skip
    delivery.last_status, delivery.last_error = outcome.status, outcome.error
    if outcome.delivered:
        delivery.status, delivery.delivered_at, delivery.failures = D.DELIVERED, moment, 0
        done.delivered += 1
    elif outcome.gone:
        # The receiver said it wants nothing more: stop sending to it (this delivery waits,
        # pending, with the rest, until someone enables the endpoint again).
        _disable(endpoint, f"answered 410 Gone at {moment.isoformat()}")
        done.disabled.append(endpoint.name)
        metrics.delivery_failed("endpoint_disabled")
    else:
        delivery.failures += 1
        delays = settings.OUTBOX_RETRY_DELAYS
        if delivery.failures > len(delays):
            delivery.status = D.FAILED
            done.given_up += 1
            metrics.delivery_failed("given_up")
            logger.warning("gave up delivering %s to %s after %s attempts",
                           event.event_id, endpoint.name, delivery.failures)  # fmt: skip
        else:
            delivery.next_attempt_at = moment + _backoff(delays[delivery.failures - 1], rng)
            done.retrying += 1
            metrics.delivery_failed("retrying")
    delivery.changed_at = moment
    delivery.save(
        update_fields=[
            "attempts",
            "failures",
            "status",
            "delivered_at",
            "next_attempt_at",
            "last_status",
            "last_error",
            "changed_at",
        ]
    )


def _backoff(delay: int, rng: random.Random) -> timedelta:
    jitter = settings.OUTBOX_RETRY_JITTER
    return timedelta(seconds=delay * rng.uniform(1 - jitter, 1 + jitter))


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    before = _endpoint_state(endpoint)
    # Guarded: of two relays told 410 at once, one disables it and audits that.
    if not WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:300], changed_at=timezone.now()
    ):
        return
    endpoint.refresh_from_db()
    logger.warning("webhook endpoint %s disabled: %s", endpoint.name, reason)
    audit.record(action="webhook_endpoint.disabled", actor=None, object_type="webhook_endpoint",
                 object_id=endpoint.pk, before=before, after=_endpoint_state(endpoint))  # fmt: skip


def replay(delivery: Delivery, *, by) -> Delivery:
    """Queue a delivery again, now, with a fresh retry schedule (delivered ones are sent again:
    receivers recognise the event id)."""
    _require(by, "replay webhook deliveries")
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
        before = {"status": delivery.status, "failures": delivery.failures}
        now = timezone.now()
        delivery.status, delivery.failures, delivery.next_attempt_at = D.PENDING, 0, now
        delivery.changed_at = now
        delivery.save(update_fields=["status", "failures", "next_attempt_at", "changed_at"])
        audit.record(action="webhook_delivery.replayed", actor=by, object_type="webhook_delivery",
                     object_id=delivery.pk, before=before,
                     after={"status": delivery.status, "event": delivery.event_id,
                            "endpoint": delivery.endpoint_id})  # fmt: skip
        transaction.on_commit(task_queue.relay_outbox)
    return delivery


# --- Endpoints and their secrets ---------------------------------------------------------------


def active_secrets(endpoint: WebhookEndpoint, moment: datetime | None = None) -> list[str]:
    """The secrets that sign now, opened (they are stored sealed: corrections/sealing.py): the
    current one, then those in their grace period."""
    moment = moment or timezone.now()
    still = [p["secret"] for p in endpoint.previous_secrets
             if datetime.fromisoformat(p["until"]) > moment]  # fmt: skip
    return [sealing.unseal(stored) for stored in (endpoint.secret, *still)]


def _endpoint_state(endpoint: WebhookEndpoint) -> dict:
    # Never the secrets: the audit log is read by more people than may sign.
    return {"name": endpoint.name, "url": endpoint.url, "enabled": endpoint.enabled,
            "disabled_reason": endpoint.disabled_reason,
            "signing_secrets": len(endpoint.previous_secrets) + 1}  # fmt: skip


def checked_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EndpointRefused(
            f"{url!r} is not an http(s) address.", fields={"url": ["an http(s) URL"]}
        )
    return url


def create_endpoint(*, name: str, url: str, by, enabled: bool = True
                    ) -> tuple[WebhookEndpoint, str]:  # fmt: skip
    """A new endpoint and its first secret (returned to show once: it is never shown again)."""
    _require(by, "manage webhook endpoints")
    name = (name or "").strip()
    if not name:
        raise EndpointRefused("Name the endpoint.", fields={"name": ["required"]})
    secret = webhooks.new_secret()
    with transaction.atomic():
        if WebhookEndpoint.objects.filter(name=name).exists():
            raise EndpointRefused(f"An endpoint is named {name!r} already.",
                                  fields={"name": ["taken"]})  # fmt: skip
        endpoint = WebhookEndpoint.objects.create(
            name=name, url=checked_url(url), enabled=enabled, secret=sealing.seal(secret),
            disabled_reason="" if enabled else "disabled when created",
        )  # fmt: skip
        audit.record(action="webhook_endpoint.created", actor=by, object_type="webhook_endpoint",
                     object_id=endpoint.pk, after=_endpoint_state(endpoint))  # fmt: skip
    return endpoint, secret


def change_endpoint(endpoint: WebhookEndpoint, *, by, name: str, url: str,
                    enabled: bool) -> WebhookEndpoint:  # fmt: skip
    """Rename, move or enable/disable an endpoint; enabling resumes its waiting deliveries."""
    _require(by, "manage webhook endpoints")
    with transaction.atomic():
        stored = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = _endpoint_state(stored)
        name = (name or "").strip() or stored.name
        if WebhookEndpoint.objects.filter(name=name).exclude(pk=stored.pk).exists():
            raise EndpointRefused(f"An endpoint is named {name!r} already.",
                                  fields={"name": ["taken"]})  # fmt: skip
        stored.name = name
        stored.url = checked_url(url)
        if enabled and not stored.enabled:
            stored.disabled_reason = ""
        elif not enabled and stored.enabled:
            stored.disabled_reason = f"disabled by {getattr(by, 'username', 'the system')}"
        stored.enabled = enabled
        stored.save()
        audit.record(action="webhook_endpoint.changed", actor=by, object_type="webhook_endpoint",
                     object_id=stored.pk, before=before, after=_endpoint_state(stored))  # fmt: skip
        if stored.enabled and not before["enabled"]:
            transaction.on_commit(task_queue.relay_outbox)
    return stored


def rotate_secret(endpoint: WebhookEndpoint, *, by, grace: timedelta | None = None
                  ) -> tuple[WebhookEndpoint, str]:  # fmt: skip
    """A new current secret (returned, to show once); the one before keeps signing for `grace`
    (OUTBOX_SECRET_GRACE_HOURS), so every message verifies with either while the receiver
    switches. Secrets whose grace has ended are dropped."""
    _require(by, "rotate webhook secrets")
    grace = timedelta(hours=settings.OUTBOX_SECRET_GRACE_HOURS) if grace is None else grace
    secret = webhooks.new_secret()
    with transaction.atomic():
        stored = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = _endpoint_state(stored)
        now = timezone.now()
        kept = [p for p in stored.previous_secrets if datetime.fromisoformat(p["until"]) > now]
        if grace > timedelta(0):
            kept.append({"secret": stored.secret, "until": (now + grace).isoformat()})
        stored.previous_secrets, stored.secret_rotated_at = kept, now
        stored.secret = sealing.seal(secret)
        stored.save()
        audit.record(
            action="webhook_endpoint.secret_rotated",
            actor=by,
            object_type="webhook_endpoint",
            object_id=stored.pk,
            before=before,
            after={**_endpoint_state(stored), "grace_until": (now + grace).isoformat()},
        )
    return stored, secret


def reseal_secrets(*, by) -> int:
    """Seal every endpoint's secrets again under WEBHOOK_SECRETS_KEY (after the key was rotated:
    the earlier key, in WEBHOOK_SECRETS_KEYS, opens them); how many endpoints. All or none:
    one secret no configured key opens refuses the lot."""
    _require(by, "reseal webhook secrets")
    with transaction.atomic():
        endpoints = list(WebhookEndpoint.objects.select_for_update().order_by("pk"))
        now = timezone.now()
        for endpoint in endpoints:
            endpoint.secret = sealing.resealed(endpoint.secret)
            # Those whose grace has ended sign nothing any more: dropped, not resealed.
            endpoint.previous_secrets = [{**p, "secret": sealing.resealed(p["secret"])}
                                         for p in endpoint.previous_secrets
                                         if datetime.fromisoformat(p["until"]) > now]  # fmt: skip
            endpoint.save(update_fields=["secret", "previous_secrets", "changed_at"])
        audit.record(action="webhook_endpoint.secrets_resealed", actor=by,
                     object_type="webhook_endpoint",
                     after={"endpoints": [e.pk for e in endpoints]})  # fmt: skip
    return len(endpoints)
