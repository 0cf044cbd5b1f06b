"""Notifications sent (SPEC 7.2): one row per message, per event and recipient, claimed before
sending so that nobody is told the same thing twice (notifications/services.py)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Notification(models.Model):
    class Kind(models.TextChoices):
        RUN_BREAKS = "run_breaks", "run: critical breaks or threshold breach"
        RUN_FAILED = "run_failed", "run failed"
        APPROVALS = "approvals", "corrections waiting for approval"
        REPORT_FAILED = "report_failed", "report build failed"

    class Channel(models.TextChoices):
        EMAIL = "email", "e-mail"
        WEBHOOK = "webhook"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending", "sending (claimed)"
        RETRYING = "retrying"
        SENT = "sent"
        FAILED = "failed", "failed (given up)"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    # What it is about: a run's or a report's id (`subject_type` says which).
    subject_type = models.CharField(max_length=20)
    subject_id = models.BigIntegerField()
    # The escalation step (its after_minutes) for runs' breaks; 0 otherwise.
    step = models.PositiveIntegerField(default=0)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # An e-mail address (lower case) or a webhook endpoint's name.
    recipient = models.CharField(max_length=320)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event_id = models.CharField(max_length=40, help_text="the webhook-id")
    title = models.CharField(max_length=300)
    body = models.TextField(help_text="the e-mail's text")
    payload = models.JSONField(help_text="the grouped event, as webhooks receive it")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_type", "subject_id", "step", "channel", "recipient"],
                name="notified_once",
            ),
            models.UniqueConstraint(fields=["event_id", "recipient"], name="notification_id_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "retrying"]),
                name="notification_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_type} {self.subject_id} to {self.recipient}"
