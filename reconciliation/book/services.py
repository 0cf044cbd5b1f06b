"""Writing the effective book: adjustment sets, appended inside the caller's transaction.

Only corrections write here (through these functions): a set of adjustments that applies one
correction, and the set that reverses it. Both tables are append-only (trigger); a set is
reversed at most once (a one-to-one link the database keeps). Writers of a dataset's book hold
its lock until they commit (see selectors: why a run's `adjustments_through` is then exact).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from types import SimpleNamespace

from django.db import connection, transaction
from django.utils import timezone

from audit import services as audit
from config import copy_insert
from reconciliation.book.selectors import BOOK_LOCK_SPACE
from reconciliation.models import Adjustment, AdjustmentSet, Dataset

Op = Adjustment.Operation
# What undoes each operation: its reversal.
REVERSE = {Op.ADD: Op.ADD, Op.SET: Op.SET, Op.INSERT: Op.REMOVE, Op.REMOVE: Op.RESTORE,
           Op.RESTORE: Op.REMOVE}  # fmt: skip


@dataclass(frozen=True)
class Change:
    """One adjustment to write: what it changes (see `Adjustment`) and how."""

    kind: str
    account: str
    key: str
    field: str
    operation: str
    delta: Decimal | None = None
    value: str = ""
    previous: str = ""
    row: dict | None = None

    def reversed(self) -> Change:
        delta = -self.delta if self.delta is not None else None
        # A PnL delta's row says its period (the reversal needs it); an insert's is the trade.
        row = None if self.operation == Op.INSERT else self.row
        return replace(
            self, operation=REVERSE[self.operation], delta=delta, value=self.previous,
            previous=self.value, row=row,
        )  # fmt: skip


def book_lock(datasets) -> None:
    """Hold the books of `datasets` until the transaction ends (in id order: no deadlock)."""
    with connection.cursor() as cursor:
        for pk in sorted({d.pk for d in datasets}):
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [BOOK_LOCK_SPACE, pk])


def write_sets(entries, *, by=None) -> list[SimpleNamespace]:
    """Append one adjustment set per (dataset, changes, reason) in `entries`, in order.

    Inside the caller's transaction (which should hold the datasets' book locks from before it
    read the values it adjusts); returns the sets, with their adjustments written.
    """
    entries = list(entries)
    with transaction.atomic():
        book_lock(dataset for dataset, _, _ in entries)
        who = audit.acting_user(by)
        sets = append_sets(entries, who_id=who.pk if who is not None else None)
    return sets


def append_sets(entries, *, who_id: int | None, now=None) -> list[SimpleNamespace]:
    """`write_sets` without its locks and savepoint, and no query but drawing ids: for a caller
    holding the books' locks that writes many at once (`copy_insert.pipelined`)."""
    now = now or timezone.now()
    sets = copy_insert.insert_rows(AdjustmentSet, [
        SimpleNamespace(dataset_id=dataset.pk, kind=AdjustmentSet.Kind.APPLY, reason=reason,
                        created_by_id=who_id, created_at=now)
        for dataset, _, reason in entries
    ])  # fmt: skip
    _write_adjustments(zip(sets, (changes for _, changes, _ in entries), strict=True))
    return sets


def reverse_sets(entries, *, by=None) -> list[SimpleNamespace]:
    """Append the set reversing each (adjustment set, reason) in `entries`.

    A set reversed before is refused by the database (one reversal per set): the caller's
    transaction fails whole, nothing is written twice.
    """
    entries = list(entries)
    with transaction.atomic():
        book_lock(Dataset(pk=applied.dataset_id) for applied, _ in entries)
        now = timezone.now()
        who = audit.acting_user(by)
        who_id = who.pk if who is not None else None
        reversals = copy_insert.insert_rows(AdjustmentSet, [
            SimpleNamespace(dataset_id=applied.dataset_id, kind=AdjustmentSet.Kind.REVERSAL,
                            reverses_id=applied.pk, reason=reason, created_by_id=who_id,
                            created_at=now)
            for applied, reason in entries
        ])  # fmt: skip
        originals = _changes_of([applied.pk for applied, _ in entries])
        _write_adjustments(
            (reversal, [change.reversed() for change in reversed(originals[applied.pk])])
            for reversal, (applied, _) in zip(reversals, entries, strict=True)
        )
    return reversals


def _write_adjustments(pairs) -> None:
    rows = [
        SimpleNamespace(
            adjustment_set_id=adjustment_set.pk,
            dataset_id=adjustment_set.dataset_id,
            kind=c.kind,
            account=c.account,
            key=c.key,
            field=c.field,
            operation=c.operation,
            delta=c.delta,
            value=c.value,
            previous=c.previous,
            row=c.row,
        )
        for adjustment_set, changes in pairs
        for c in changes
    ]
    copy_insert.insert_rows(Adjustment, rows)


def _changes_of(set_ids: list[int]) -> dict[int, list[Change]]:
    changes: dict[int, list[Change]] = {pk: [] for pk in set_ids}
    fields = ("adjustment_set_id", "kind", "account", "key", "field", "operation", "delta",
              "value", "previous", "row")  # fmt: skip
    for row in (
        Adjustment.objects.filter(adjustment_set_id__in=set_ids).order_by("id").values_list(*fields)
    ):
        changes[row[0]].append(Change(*row[1:]))
    return changes
