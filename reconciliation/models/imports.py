"""An upload confirmed on the page (or a large one posted to the API), imported by a worker."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ImportJob(models.Model):
    """One file waiting for, or being loaded by, a worker; its outcome once it is done.

    The file itself waits in the upload staging folder (`staged_name`, see
    reconciliation/datasets/staging.py) until the worker has loaded it or refused it.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    source = models.ForeignKey("reconciliation.Source", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(
        "reconciliation.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    format = models.CharField(max_length=40)
    kind = models.CharField(max_length=20)
    filename = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(help_text="bytes")
    content_hash = models.CharField(max_length=64)
    staged_name = models.CharField(max_length=64, help_text="the file in UPLOAD_STAGING_DIR/jobs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=100, default="waiting for a worker")
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.TextField(blank=True, help_text="the outcome, in words a user can act on")
    errors = models.JSONField(default=list, blank=True, help_text="the first row errors")
    error_count = models.PositiveIntegerField(default=0)
    dataset = models.ForeignKey(
        "reconciliation.Dataset", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created = models.BooleanField(
        null=True, blank=True, help_text="false: the file was already loaded as `dataset`"
    )
    deliveries = models.PositiveSmallIntegerField(
        default=0, help_text="claims so far: the fencing number of the current one"
    )
    worker = models.CharField(max_length=200, blank=True)
    worker_instance = models.CharField(
        max_length=64, blank=True, help_text="the claiming worker process's heartbeat id"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="import_job_progress_pct"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "running"])
                | models.Q(finished_at__isnull=False),
                name="finished_import_job_has_end",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="succeeded") | models.Q(dataset__isnull=False),
                name="succeeded_import_job_has_dataset",
            ),
        ]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.format}, {self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
