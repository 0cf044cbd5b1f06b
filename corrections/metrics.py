"""Corrections' figures for /metrics (config/metrics.py) and /healthz (config/health.py):
failed webhook deliveries, counted as the relay meets them (corrections/outbox.py); corrections
in each status and the outbox's backlog, read when scraped."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone

from config import health, metrics
from corrections.models import Correction, Delivery

DELIVERY_FAILURES = metrics.counter(
    "outbox_delivery_failures",
    "Failed webhook delivery attempts, by what came of them: retrying later, given up, or the "
    "endpoint disabled (410 Gone)",
    ["outcome"],
)


def delivery_failed(outcome: str) -> None:
    DELIVERY_FAILURES.labels(outcome=outcome).inc()


@dataclass(frozen=True)
class Backlog:
    """The outbox's deliveries not yet delivered."""

    pending: int  # still to be sent (due now, waiting for a retry, or held by a disabled endpoint)
    given_up: int  # failed for good: waiting for someone to replay them
    oldest_pending: datetime | None

    def oldest_age(self, now: datetime | None = None) -> float:
        """Seconds since the oldest pending delivery was made (0 when there is none)."""
        if self.oldest_pending is None:
            return 0.0
        return max(((now or timezone.now()) - self.oldest_pending).total_seconds(), 0.0)


def outbox_backlog() -> Backlog:
    """One statement, over the deliveries not delivered (the partial indexes' rows)."""
    rows = (
        Delivery.objects.order_by()
        .exclude(status=Delivery.Status.DELIVERED)
        .values("status")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    )
    by_status = {row["status"]: row for row in rows}
    pending = by_status.get(Delivery.Status.PENDING, {})
    return Backlog(
        pending=pending.get("n", 0),
        given_up=by_status.get(Delivery.Status.FAILED, {}).get("n", 0),
        oldest_pending=pending.get("oldest"),
    )


def states() -> Iterable:
    yield metrics.by_status(
        "corrections", "Corrections in each status", Correction.objects.all(),
        Correction.Status.values,
    )  # fmt: skip
    backlog = outbox_backlog()
    pending = metrics.gauge("outbox_backlog", "Webhook deliveries not yet delivered")
    pending.add_metric([], backlog.pending)
    yield pending
    oldest = metrics.gauge(
        "outbox_oldest_pending_age_seconds", "Age of the oldest delivery not yet delivered"
    )
    oldest.add_metric([], backlog.oldest_age())
    yield oldest
    given_up = metrics.gauge("outbox_given_up", "Webhook deliveries given up, waiting for a replay")
    given_up.add_metric([], backlog.given_up)
    yield given_up


def outbox_check() -> health.Check:
    """The outbox's backlog for /healthz: reported, never a reason to be down (a receiver that
    is down delays delivery, nothing is lost); down only when it cannot be read."""
    try:
        backlog = outbox_backlog()
    except Exception as exc:  # the database is down: its own check says so too
        return health.Check("outbox", False, "unreadable: " + type(exc).__name__)
    age = backlog.oldest_age()
    detail = f"{backlog.pending} {'delivery' if backlog.pending == 1 else 'deliveries'} pending"
    if backlog.pending:
        detail += f", the oldest for {age:.0f}s"
    if backlog.given_up:
        detail += f"; {backlog.given_up} given up"
    figures = {
        "backlog": backlog.pending,
        "oldest_age_seconds": round(age, 3),
        "given_up": backlog.given_up,
    }
    return health.Check("outbox", True, detail, figures)


def register() -> None:
    metrics.register_state("corrections", states)
    health.register(outbox_check)
