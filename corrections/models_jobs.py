"""A run's automatic corrections as a job a worker claims, so a dead worker's is taken back."""

from django.db import models
from django.db.models import Q


class ProposalJob(models.Model):
    """One per succeeded run whose corrections are proposed on a worker (corrections/jobs.py).

    A claim (queued or running -> running) counts a delivery, the fencing number, and records
    the worker; the delivery that proposes marks the job done in the same transaction, so it is
    done exactly when the run's corrections exist. The sweep (config/claim_sweep.py) sends a
    running job whose worker went silent again."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"  # an unexpected error, logged: nothing was made
        GIVEN_UP = "given_up", "given up"

    run = models.OneToOneField(
        "reconciliation.Run", on_delete=models.PROTECT, related_name="proposal_job"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    deliveries = models.PositiveSmallIntegerField(
        default=0, help_text="claims so far: the fencing number of the current one"
    )
    # Deliveries never restart from zero (a straggler of an earlier one must not match a new
    # one's number): trying a job again raises its limit instead.
    delivery_limit = models.PositiveSmallIntegerField(
        default=3, help_text="given up once its deliveries pass this"
    )
    worker = models.CharField(max_length=200, blank=True)
    worker_instance = models.CharField(
        max_length=64, blank=True, help_text="the claiming worker process's heartbeat id"
    )
    outcome = models.JSONField(default=dict, blank=True, help_text="what the delivery made")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                name="proposal_job_ended_has_time",
                condition=Q(status__in=["queued", "running"], finished_at__isnull=True)
                | Q(status__in=["done", "failed", "given_up"], finished_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"proposals of run {self.run_id} ({self.status})"
