"""Applying approved corrections to the book, once, behind the stale guard (SPEC 3.3)."""

from __future__ import annotations

from django.db import transaction

from audit import services as audit
from corrections import outbox, proposals, transitions
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
    state,
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
        apply_locked([correction], by=by, stale_fails=False)
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
        applied, _ = apply_locked(corrections, by=by, stale_fails=False)
    return applied


def apply_locked(corrections, *, by, stale_fails: bool, just_proposed: bool = False):
    """Apply corrections held locked (approved), inside the caller's transaction; returns
    (applied, failed).

    Stale ones raise StaleCorrection (nothing changes), or with `stale_fails` are marked failed
    (a run's automatic corrections: the rest still apply). `just_proposed`: the corrections were
    proposed (and approved automatically) in this transaction and not audited yet: each gets one
    entry for the three steps, with its whole state.
    """
    corrections = [c for c in corrections if c.status == S.APPROVED]
    if not corrections:
        return 0, 0
    book_writes.book_lock({c.dataset for c in corrections})
    fresh, stale = _split_stale(corrections)
    if stale and not stale_fails:
        correction, current = stale[0]
        raise StaleCorrection(
            f"Correction {correction.pk} cannot be applied: it changes {correction.field} of "
            f"{correction.target} from {_shown(correction)}, but the book now holds "
            f"{current}. Nothing was changed; propose a new correction.",
        )
    for correction, current in stale:
        correction.failure = f"stale: the book holds {current}, not {_shown(correction)}"
        transitions.move([correction.pk], S.APPROVED, S.FAILED, failure=correction.failure)
        correction.status = S.FAILED
    sets = book_writes.write_sets(
        ((c.dataset, _changes(c), f"correction {c.pk}") for c in fresh), by=by
    )
    move_with_sets(fresh, sets, S.APPROVED, S.APPLIED, "applied_set", "applied")
    audit.record_many(
        [_applied_entry(c, just_proposed) for c in fresh]
        + [_failed_entry(c, just_proposed) for c, _ in stale],
        actor=by,
    )
    outbox.publish_many(outbox.APPLIED, fresh)  # told to the trading system (SPEC 3.5)
    return len(fresh), len(stale)


def _applied_entry(c, just_proposed: bool) -> audit.Entry:
    if just_proposed:  # proposed, approved within the limits, applied: one step, one entry
        return audit.Entry("correction.applied", "correction", c.pk, None, state(c))
    return audit.Entry("correction.applied", "correction", c.pk, {"status": "approved"},
                       {"status": "applied", "adjustment_set": c.applied_set_id})  # fmt: skip


def _failed_entry(c, just_proposed: bool) -> audit.Entry:
    before = None if just_proposed else {"status": "approved"}
    return audit.Entry("correction.failed", "correction", c.pk, before,
                       {**state(c), "failure": c.failure})  # fmt: skip


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
