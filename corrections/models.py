"""Corrections: proposed changes of the book that resolve a break, and their approvals (SPEC 3).

A correction's status changes only in `corrections/transitions.py`, by guarded conditional
updates; the constraints here are the last line: what they refuse cannot be stored, whoever
writes. The book adjustments a correction writes live in reconciliation (`AdjustmentSet`),
which runs read; a correction points at the set that applied it and the set that reversed it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from reconciliation.models.datasets import MONEY

LIVE = ("pending", "approved", "applied")  # a break has at most one correction in these


class Correction(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        APPLIED = "applied"
        ROLLED_BACK = "rolled_back", "rolled back"
        REJECTED = "rejected"
        FAILED = "failed"

    class Origin(models.TextChoices):
        """How the correction arose (the seed's correction types)."""

        AUTOMATIC = "automatic"  # proposed by a run, from the break's suggested value
        MANUAL = "manual"  # proposed by a person
        SYSTEM = "system"  # proposed by a command or another system through the API
        REGULATORY = "regulatory"  # a person, for a regulatory adjustment

    class Operation(models.TextChoices):
        ADJUST = "adjust", "change a number"
        SET = "set", "change a value"
        ADD_TRADE = "add_trade", "add a missing trade"
        CANCEL_TRADE = "cancel_trade", "cancel a trade"

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    origin = models.CharField(max_length=12, choices=Origin.choices)
    break_record = models.ForeignKey(
        "reconciliation.Break", on_delete=models.PROTECT, related_name="corrections"
    )
    # Indexes only where something looks corrections up (see Meta): each one is paid on every
    # correction a run writes, a hundred thousand at a time.
    # The run, its rule set version, its book and the book's account are held by one composite
    # foreign key to the run (migration 0008: `correction_of_its_run`; the run keeps its book's
    # account, `run_book_of_its_account`), so the database itself refuses a correction judged
    # by another version than its run's, changing another book, or of another account. One
    # check per correction instead of four: a run writes a hundred thousand (docs/decisions.md).
    run = models.ForeignKey(
        "reconciliation.Run", on_delete=models.PROTECT, related_name="corrections",
        help_text="the run whose break it corrects: its rule set version judges it",
        db_index=False, db_constraint=False,
    )  # fmt: skip
    rule_set_version = models.ForeignKey(
        "reconciliation.RuleSetVersion", on_delete=models.PROTECT, related_name="+",
        db_index=False, db_constraint=False,
    )  # fmt: skip
    type = models.CharField(max_length=20, help_text="the run type")
    # What it changes: a value of the book (the run's internal dataset) of one account.
    dataset = models.ForeignKey(
        "reconciliation.Dataset", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    account = models.ForeignKey(
        "reconciliation.Account", on_delete=models.PROTECT, related_name="+",
        db_index=False, db_constraint=False,
    )  # fmt: skip
    record_kind = models.CharField(max_length=20, help_text="the book records it changes")
    asset = models.CharField(max_length=40, blank=True)
    target = models.CharField(max_length=500, help_text="the asset, or the book trade's id")
    field = models.CharField(max_length=50)
    operation = models.CharField(max_length=12, choices=Operation.choices)
    original_value = models.DecimalField(null=True, blank=True, **MONEY)
    corrected_value = models.DecimalField(null=True, blank=True, **MONEY)
    delta = models.DecimalField(null=True, blank=True, **MONEY)
    original_text = models.CharField(max_length=100, blank=True)
    corrected_text = models.CharField(max_length=100, blank=True)
    trade_row = models.JSONField(null=True, blank=True, help_text="the trade a correction adds")
    # Impact: the change valued in the reporting currency, the price used and its time, and
    # its share of the account's portfolio value; null where no price was found.
    impact_rc = models.DecimalField(null=True, blank=True, **MONEY)
    reporting_currency = models.CharField(max_length=40, blank=True)
    price = models.DecimalField(null=True, blank=True, **MONEY)
    price_as_of = models.DateTimeField(null=True, blank=True)
    portfolio_value_rc = models.DecimalField(null=True, blank=True, **MONEY)
    portfolio_share_pct = models.DecimalField(null=True, blank=True, **MONEY)
    change_pct = models.DecimalField(
        null=True, blank=True, help_text="|delta| / |corrected value| * 100", **MONEY
    )
    validation = models.JSONField(default=list, blank=True, help_text="checks and their results")
    rollback_plan = models.TextField(blank=True)
    reason = models.TextField()
    # Policy, from the pinned rule set version when proposed (corrections/policy.py).
    approvals_required = models.PositiveSmallIntegerField()
    auto_approved = models.BooleanField(default=False)
    policy_note = models.CharField(max_length=300, blank=True, help_text="the limit that decided")
    content_hash = models.CharField(max_length=64, help_text="what approvals are bound to")
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by",
        help_text="the rejected or rolled-back correction this one replaces",
    )  # fmt: skip
    # One correction per set, in partial unique indexes (see Meta): empty for most corrections,
    # which a full unique index would still hold.
    applied_set = models.ForeignKey(
        "reconciliation.AdjustmentSet", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_index=False,
    )  # fmt: skip
    reversal_set = models.ForeignKey(
        "reconciliation.AdjustmentSet", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_index=False,
    )  # fmt: skip
    rejection_reason = models.TextField(blank=True)
    failure = models.TextField(blank=True, help_text="why applying it failed")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text="empty: proposed by a run", db_index=False,
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "-id"]),
            models.Index(fields=["run", "status"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["break_record"], condition=Q(status__in=LIVE), name="one_live_per_break"
            ),
            models.UniqueConstraint(
                fields=["applied_set"],
                condition=Q(applied_set__isnull=False),
                name="one_correction_per_applied_set",
            ),
            models.UniqueConstraint(
                fields=["reversal_set"],
                condition=Q(reversal_set__isnull=False),
                name="one_correction_per_reversal_set",
            ),
            models.CheckConstraint(
                condition=Q(approvals_required__lte=2), name="correction_approvals_0_to_2"
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected")
                | (~Q(rejection_reason="") & Q(rejected_at__isnull=False)),
                name="rejected_correction_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "applied", "rolled_back"])
                | Q(approved_at__isnull=False),
                name="approved_correction_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["applied", "rolled_back"])
                | (Q(applied_set__isnull=False) & Q(applied_at__isnull=False)),
                name="applied_correction_has_adjustments",
            ),
            models.CheckConstraint(
                condition=Q(
                    status="rolled_back", reversal_set__isnull=False, rolled_back_at__isnull=False
                )
                | (~Q(status="rolled_back") & Q(reversal_set__isnull=True)),
                name="rolled_back_correction_has_reversal",
            ),
            models.CheckConstraint(
                condition=Q(applied_set__isnull=True) | Q(status__in=["applied", "rolled_back"]),
                name="adjustments_only_when_applied",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(failure=""), name="failed_correction_says_why"
            ),
            models.CheckConstraint(
                condition=~Q(auto_approved=True) | Q(approvals_required=0),
                name="auto_approved_needs_no_approver",
            ),
        ]

    def __str__(self) -> str:
        return f"correction {self.pk} ({self.status})"


class Approval(models.Model):
    """One person's approval of a correction's content (its hash when they approved)."""

    correction = models.ForeignKey(Correction, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The correction's creator, copied so the database itself refuses a creator's approval.
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["correction", "approver", "content_hash"], name="one_approval_per_person"
            ),
            models.CheckConstraint(
                condition=Q(creator__isnull=True) | ~Q(approver=models.F("creator")),
                name="approver_is_not_creator",
            ),
        ]

    def __str__(self) -> str:
        return f"approval of correction {self.correction_id} by {self.approver_id}"


# The outbox's models live beside these (SPEC 3.5); imported here so Django finds them.
from corrections.models_jobs import ProposalJob  # noqa: E402
from corrections.models_outbox import (  # noqa: E402
    Delivery,
    DeliveryAttempt,
    OutboxEvent,
    WebhookEndpoint,
)

__all__ = [
    "LIVE",
    "Approval",
    "Correction",
    "Delivery",
    "DeliveryAttempt",
    "OutboxEvent",
    "ProposalJob",
    "WebhookEndpoint",
]
