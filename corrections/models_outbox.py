"""The outbox (SPEC 3.5): what the trading system is told of corrections, and how it was told.

An `OutboxEvent` is written in the transaction that applies or rolls back a correction, with a
`Delivery` per enabled endpoint; a relay sends them afterwards (corrections/outbox.py). Each
attempt is a `DeliveryAttempt` row, append-only (a trigger refuses UPDATE and DELETE).
"""

from django.db import models
from django.db.models import Q


class WebhookEndpoint(models.Model):
    """A receiver of the published corrections (the trading system), and its signing secrets."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # Standard Webhooks secrets (`whsec_` + base64), stored sealed (corrections/sealing.py). The
    # current one signs; the previous ones, [{"secret": ..., "until": ISO time}], also sign
    # until their grace period ends, so the receiver can roll over to the new one without
    # refusing a message meanwhile.
    secret = models.CharField(max_length=300)
    previous_secrets = models.JSONField(default=list, blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(enabled=True) | ~Q(disabled_reason=""),
                name="disabled_endpoint_says_why",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class OutboxEvent(models.Model):
    """One thing that happened to a correction, to be told to every endpoint, in order."""

    # Unique by a constraint (see Meta), not unique=True, which adds a text-pattern index nobody
    # searches with; the correction's own index is the prefix of `one_event_per_step`. A run's
    # automatic corrections write tens of thousands of events at once: each index is paid.
    event_id = models.CharField(max_length=40, help_text="the webhook-id")
    type = models.CharField(max_length=40)
    correction = models.ForeignKey(
        "corrections.Correction", on_delete=models.PROTECT, related_name="outbox_events",
        db_index=False,
    )  # fmt: skip
    # 1, 2, ... per correction: an endpoint is sent event n only after it took event n - 1.
    sequence = models.PositiveIntegerField()
    payload = models.JSONField(help_text="the message's data; decimals as exact strings")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["correction", "sequence"], name="one_event_per_step"),
            models.UniqueConstraint(fields=["event_id"], name="outbox_event_id_once"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class Delivery(models.Model):
    """Sending one event to one endpoint, retried until delivered or given up."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed", "failed (given up)"

    event = models.ForeignKey(OutboxEvent, on_delete=models.PROTECT, related_name="deliveries")
    # No single-column indexes on endpoint and correction: the ordering rule's partial index
    # below leads with them, and a planner offered an endpoint index too scans all of an
    # endpoint's deliveries for every candidate.
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    # The event's correction and sequence, copied so the ordering rule is one indexed lookup.
    correction = models.ForeignKey(
        "corrections.Correction", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    sequence = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="every attempt, ever")
    failures = models.PositiveIntegerField(
        default=0, help_text="failed attempts since last queued: the backoff's step"
    )
    next_attempt_at = models.DateTimeField()
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="delivery_due",
            ),
            # The ordering rule's lookup: an undelivered earlier event of the same correction.
            models.Index(
                fields=["endpoint", "correction", "sequence"],
                condition=~Q(status="delivered"),
                name="delivery_undelivered_order",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="one_delivery_per_endpoint"),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(delivered_at__isnull=False),
                name="delivered_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event_id} to {self.endpoint_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One HTTP request of a delivery and what came of it; never changed."""

    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="attempt_log")
    number = models.PositiveIntegerField()
    requested_at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField()
    signatures = models.PositiveSmallIntegerField(help_text="secrets it was signed with")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_per_number"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
