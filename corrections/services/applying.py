"""Applying approved corrections to the book, once, behind the stale guard (SPEC 3.3)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit import services as audit
from corrections import outbox, proposals
from corrections.models import Correction
from corrections.services.common import (
    CorrectionRefused,
    Op,
    S,
    StaleCorrection,
    lock_all,
    locked,
    move_with_sets,
    require,
)
from reconciliation.book import selectors as book
from reconciliation.book import services as book_writes
from reconciliation.models import Run


def apply(correction: Correction, *, by) -> Correction:
    """Write an approved correction's adjustments to the book, once."""
    require(by, "approve_corrections", "apply corrections")
    with transaction.atomic():
        correction = locked(correction.pk)
        if correction.status == S.APPLIED:
            raise CorrectionRefused(f"Correction {correction.pk} is applied already.")
        if correction.status != S.APPROVED:
            raise CorrectionRefused(
                f"Correction {correction.pk} is {correction.get_status_display()}: only an "
                "approved correction is applied."
            )
        apply_locked([correction], by=by)
    correction.refresh_from_db()
    return correction


def apply_run(run: Run, *, by) -> int:
    """Apply every approved correction of the run, all or nothing; how many were applied."""
    require(by, "approve_corrections", "apply corrections")
    with transaction.atomic():
        ids = list(
            Correction.objects.filter(run=run, status=S.APPROVED).values_list("pk", flat=True)
        )
        corrections = lock_all(ids)
        applied = apply_locked(corrections, by=by)
    return applied


def apply_locked(corrections, *, by) -> int:
    """Apply corrections held locked (approved), inside the caller's transaction; how many were
    applied. A stale one raises StaleCorrection: nothing changes."""
    corrections = [c for c in corrections if c.status == S.APPROVED]
    if not corrections:
        return 0
    book_writes.book_lock({c.dataset for c in corrections})
    fresh, stale = _split_stale(corrections)
    if stale:
        correction, current = stale[0]
        raise StaleCorrection(
            f"Correction {correction.pk} cannot be applied: it changes {correction.field} of "
            f"{correction.target} from {_shown(correction)}, but the book now holds "
            f"{current}. Nothing was changed; propose a new correction.",
        )
    sets = _write_sets(fresh, by)
    move_with_sets(fresh, sets, S.APPROVED, S.APPLIED, "applied_set", "applied")
    audit.record_many(
        [audit.Entry("correction.applied", "correction", c.pk, {"status": "approved"},
                     {"status": "applied", "adjustment_set": c.applied_set_id})
         for c in fresh],
        actor=by,
    )  # fmt: skip
    outbox.publish_many(outbox.APPLIED, fresh)  # told to the trading system (SPEC 3.5)
    return len(fresh)


def apply_proposed(corrections, *, who_id: int | None) -> None:
    """Apply corrections being proposed within the auto-correction limits, before they are
    stored (their ids reserved): their adjustments are written and they are marked applied, to
    be stored so in the transaction that proposes them (proposing.py audits each in one entry
    and publishes their events once they are stored).

    No stale guard: they were built in this transaction, under the book's lock, from the
    book's values. Stored applied rather than stored approved and moved: a run's tens of
    thousands would be written twice. No query but drawing ids (`book_writes.append_sets`):
    a run's are written in parts, each while the next is built."""
    if not corrections:
        return
    entries = [(c.dataset, _changes(c), f"correction {c.pk}") for c in corrections]
    sets = book_writes.append_sets(entries, who_id=who_id)
    now = timezone.now()
    for correction, adjustment_set in zip(corrections, sets, strict=True):
        correction.status, correction.applied_set_id = S.APPLIED, adjustment_set.pk
        correction.approved_at = correction.applied_at = now


def _write_sets(corrections, by):
    return book_writes.write_sets(
        ((c.dataset, _changes(c), f"correction {c.pk}") for c in corrections), by=by
    )


def _split_stale(corrections):
    """(fresh, [(stale, the book's value now)]): the stale guard, over one read of each book."""
    fresh, stale = [], []
    by_dataset: dict[int, list[Correction]] = {}
    for correction in corrections:
        by_dataset.setdefault(correction.dataset_id, []).append(correction)
    for group in by_dataset.values():
        dataset = group[0].dataset
        run_as_of = group[0].run.as_of
        current = book.current_values(dataset, sorted({c.target for c in group}), run_as_of)
        for correction in group:
            now = _current(correction, current)
            if now == _expected(correction):
                fresh.append(correction)
            else:
                stale.append((correction, shown_value(now)))
    return fresh, stale


def _current(correction: Correction, current: dict):
    if correction.operation == Op.SET:
        text = current.get((correction.target, correction.field)) or ""
        fee = current.get((correction.target, "fee")) if correction.field == "fee_asset" else None
        return (text, fee)
    field = "trade" if correction.operation in (Op.ADD_TRADE, Op.CANCEL_TRADE) else correction.field
    return current.get((correction.target, field), proposals.ABSENT)


def _expected(correction: Correction):
    if correction.operation == Op.SET:
        return (correction.original_text, correction.original_value)
    return correction.original_value


def _shown(correction: Correction) -> str:
    return shown_value(_expected(correction))


def shown_value(value) -> str:
    if isinstance(value, tuple):
        return " / ".join(shown_value(v) for v in value if v is not None)
    return (
        "nothing"
        if value is None
        else (format(value.normalize(), "f") if hasattr(value, "normalize") else str(value))
    )


def _changes(correction: Correction) -> list[book_writes.Change]:
    # A PnL figure's key is its asset; its currency and period travel in the row.
    key = correction.asset if correction.record_kind == "pnl" else correction.target
    base = {"kind": correction.record_kind, "account": correction.dataset.account.code,
            "key": key, "field": correction.field}  # fmt: skip
    if correction.operation == Op.ADJUST:
        row = correction.trade_row if correction.record_kind == "pnl" else None
        return [book_writes.Change(**base, operation="add", delta=correction.delta, row=row)]
    if correction.operation == Op.SET:
        changes = [book_writes.Change(**base, operation="set", value=correction.corrected_text,
                                      previous=correction.original_text)]  # fmt: skip
        if correction.field == "fee_asset" and correction.delta:
            changes.append(book_writes.Change(**{**base, "field": "fee"}, operation="add",
                                              delta=correction.delta))  # fmt: skip
        return changes
    if correction.operation == Op.ADD_TRADE:
        return [book_writes.Change(**base, operation="insert", row=correction.trade_row)]
    return [book_writes.Change(**base, operation="remove")]
