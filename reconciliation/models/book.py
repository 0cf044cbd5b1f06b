"""The effective book: a dataset's records plus the adjustments written to it (SPEC 3.3).

Datasets never change. Correcting the book appends an `AdjustmentSet` of `Adjustment` rows for
one internal dataset; rolling a correction back appends the set that reverses it. Neither table
is ever updated or deleted (trigger, migration 0014). What a run reads is its internal dataset's
records with the adjustments up to the one it recorded (`Run.adjustments_through`), merged in
the engine's columnar input (`engine/book.py`), so the same inputs give the same breaks.

These tables live in reconciliation, not corrections: runs read them, and reconciliation never
imports corrections (the import contracts). A correction points at the sets it wrote.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from reconciliation.models.datasets import MONEY


class AdjustmentSet(models.Model):
    """Adjustments written at once: applying one correction, or reversing such a set."""

    class Kind(models.TextChoices):
        APPLY = "apply"
        REVERSAL = "reversal"

    dataset = models.ForeignKey(
        "reconciliation.Dataset", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # One reversal per set, at most: the database refuses a second one.
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversal"
    )
    reason = models.CharField(max_length=300, help_text="why, e.g. which correction wrote it")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_index=False,
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now, help_text="when it was written")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="reversal", reverses__isnull=False)
                | models.Q(kind="apply", reverses__isnull=True),
                name="reversal_reverses_a_set",
            ),
        ]

    def __str__(self) -> str:
        return f"adjustment set {self.pk} ({self.kind}) on dataset {self.dataset_id}"


class Adjustment(models.Model):
    """One change of one book value; its id orders the book's adjustments.

    `operation` says what it does to the record(s) of `kind` identified by `account` and `key`
    (the asset, or a trade's id):
    - add: `delta` is added to the number `field` (a quantity, price, fee, PnL, margin figure);
    - set: the text or time `field` becomes `value` (`previous` is what it was: its reversal
      sets that back);
    - insert: a trade (`row`, its fields as text) is added to the book;
    - remove: the trade `key` is cancelled (a duplicate); its reversal inserts nothing but
      restores it (operation "restore").
    """

    class Operation(models.TextChoices):
        ADD = "add"
        SET = "set"
        INSERT = "insert"
        REMOVE = "remove"
        RESTORE = "restore"

    id = models.BigAutoField(primary_key=True)
    adjustment_set = models.ForeignKey(
        AdjustmentSet, on_delete=models.PROTECT, related_name="adjustments"
    )
    dataset = models.ForeignKey(
        "reconciliation.Dataset", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=20, help_text="the record kind it changes")
    account = models.CharField(max_length=100, help_text="the records' account column")
    key = models.CharField(max_length=500, help_text="the asset, or the trade id")
    field = models.CharField(max_length=50)
    operation = models.CharField(max_length=10, choices=Operation.choices)
    delta = models.DecimalField(null=True, blank=True, **MONEY)
    value = models.CharField(max_length=100, blank=True)
    previous = models.CharField(max_length=100, blank=True)
    row = models.JSONField(null=True, blank=True, help_text="an inserted trade's fields")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["dataset", "id"], name="adjustment_by_dataset")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(operation="add") | models.Q(delta__isnull=False),
                name="added_adjustment_has_delta",
            ),
            models.CheckConstraint(
                condition=~models.Q(operation="insert") | models.Q(row__isnull=False),
                name="inserted_adjustment_has_row",
            ),
        ]

    def __str__(self) -> str:
        return f"adjustment {self.pk}: {self.operation} {self.field} of {self.key}"
