"""Reports: one file of one format for a run or a period, built by a worker, kept for the
retention period; report packs: reports built on a schedule and sent by e-mail."""

from django.conf import settings
from django.db import models
from django.db.models import Q

FORMATS = ("pdf", "xlsx", "html", "csv", "json")
FORMAT_CHOICES = [
    ("pdf", "PDF"),
    ("xlsx", "Excel"),
    ("html", "HTML"),
    ("csv", "CSV"),
    ("json", "JSON"),
]


class ReportPack(models.Model):
    """Reports of a period built on a schedule (beat) and e-mailed to their recipients."""

    class Period(models.TextChoices):
        PREVIOUS_DAY = "previous_day", "the previous day"
        PREVIOUS_WEEK = "previous_week", "the previous 7 days"
        PREVIOUS_MONTH = "previous_month", "the previous calendar month"

    name = models.CharField(max_length=100, unique=True)
    formats = models.JSONField(help_text='the formats built, e.g. ["pdf", "xlsx"]')
    period = models.CharField(max_length=20, choices=Period.choices)
    filters = models.JSONField(default=dict, blank=True)
    recipients = models.JSONField(default=list, help_text="e-mail addresses")
    cron = models.CharField(max_length=100, help_text="minute hour day-of-month month day-of-week")
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({', '.join(self.formats)}, {self.cron})"


class PackDelivery(models.Model):
    """One firing of a pack: its reports, and the one e-mail sent once they are all built."""

    class Status(models.TextChoices):
        BUILDING = "building"
        SENT = "sent"
        FAILED = "failed"

    pack = models.ForeignKey(ReportPack, on_delete=models.PROTECT, related_name="deliveries")
    period_from = models.DateField()
    period_to = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BUILDING)
    recipients = models.JSONField(default=list)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # A beat that fires twice for one period (a restart, two beats) builds it once.
            models.UniqueConstraint(
                fields=["pack", "period_from", "period_to"], name="pack_period_once"
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="sent_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pack.name} {self.period_from}..{self.period_to} ({self.status})"


class Report(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        BUILDING = "building"
        READY = "ready"
        FAILED = "failed"
        EXPIRED = "expired"

    format = models.CharField(max_length=4, choices=FORMAT_CHOICES)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    run = models.ForeignKey(
        "reconciliation.Run", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    period_from = models.DateField(null=True, blank=True)
    period_to = models.DateField(null=True, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    title = models.CharField(max_length=300, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    phase = models.CharField(max_length=100, default="queued")
    message = models.TextField(blank=True, help_text="why the build failed")
    file_name = models.CharField(max_length=255, blank=True, help_text="under REPORTS_DIR")
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    break_count = models.PositiveIntegerField(null=True, blank=True)
    chain_sequence = models.BigIntegerField(null=True, blank=True)
    chain_hash = models.CharField(max_length=64, blank=True)
    build_ms = models.PositiveIntegerField(null=True, blank=True)
    deliveries = models.PositiveSmallIntegerField(default=0)
    # Deliveries after which a build whose workers keep dying is given up; a retry raises it.
    delivery_limit = models.PositiveSmallIntegerField(default=3)
    worker = models.CharField(max_length=200, blank=True)
    worker_instance = models.CharField(max_length=64, blank=True)
    pack_delivery = models.ForeignKey(
        PackDelivery, null=True, blank=True, on_delete=models.PROTECT, related_name="reports"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "-id"]),
            models.Index(fields=["expires_at"], condition=Q(status="ready"), name="report_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(run__isnull=False, period_from__isnull=True, period_to__isnull=True)
                    | Q(
                        run__isnull=True,
                        period_from__isnull=False,
                        period_to__isnull=False,
                        period_from__lte=models.F("period_to"),
                    )
                ),
                name="report_of_a_run_or_a_period",
            ),
            models.CheckConstraint(
                condition=~Q(status="ready")
                | (
                    Q(size__isnull=False, finished_at__isnull=False)
                    & ~Q(sha256="")
                    & ~Q(file_name="")
                ),
                name="ready_report_has_file",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(message=""), name="failed_report_says_why"
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="report_progress_pct"),
            models.CheckConstraint(condition=Q(format__in=FORMATS), name="report_format_known"),
        ]

    def __str__(self) -> str:
        return f"report {self.pk} ({self.format}, {self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.BUILDING)
