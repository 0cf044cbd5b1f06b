"""Rolling back applied corrections: the reversing entries, once, one or a run's all (SPEC 3.3)."""

from __future__ import annotations

from types import SimpleNamespace

from django.db import transaction

from audit import services as audit
from corrections import outbox, proposals
from corrections.models import Correction
from corrections.services.applying import shown_value
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


def roll_back(correction: Correction, *, by, reason: str) -> Correction:
    """Reverse an applied correction's adjustments, once, dated now."""
    require(by, "approve_corrections", "roll back corrections")
    with transaction.atomic():
        correction = locked(correction.pk)
        if correction.status != S.APPLIED:
            raise CorrectionRefused(
                f"Correction {correction.pk} is {correction.get_status_display()}: only an "
                "applied correction is rolled back."
            )
        _roll_back_locked([correction], by=by, reason=reason)
    correction.refresh_from_db()
    return correction


def roll_back_run(run: Run, *, by, reason: str) -> int:
    """Roll back every applied correction of the run, all or nothing; how many."""
    require(by, "approve_corrections", "roll back corrections")
    with transaction.atomic():
        ids = Correction.objects.filter(run=run, status=S.APPLIED).values_list("pk", flat=True)
        # Still applied once locked: a roll back that committed meanwhile took the others.
        corrections = [c for c in lock_all(list(ids)) if c.status == S.APPLIED]
        _roll_back_locked(corrections, by=by, reason=reason)
    return len(corrections)


# What the book holds while a replacing correction is in force (a number's delta commutes with
# later ones; a value set, a trade added or cancelled does not).
_HELD = {Op.ADD_TRADE: ("trade", 1), Op.CANCEL_TRADE: ("trade", 0)}


def _refuse_overtaken(corrections) -> None:
    """A value set, trade added or trade cancelled that a later correction changed again cannot
    be rolled back first: its reversal would silently undo the later one."""
    replacing = [c for c in corrections if c.operation != Op.ADJUST]
    by_dataset: dict[int, list] = {}
    for c in replacing:
        by_dataset.setdefault(c.dataset_id, []).append(c)
    for group in by_dataset.values():
        current = book.current_values(group[0].dataset, sorted({c.target for c in group}),
                                      group[0].run.as_of)  # fmt: skip
        for c in group:
            field, held = _HELD.get(c.operation, (c.field, c.corrected_text))
            now = current.get((c.target, field), proposals.ABSENT if field == "trade" else "")
            if now != held:
                raise StaleCorrection(
                    f"Correction {c.pk} cannot be rolled back: the book's {c.field} of {c.target} "
                    f"is {shown_value(now)} now, not {shown_value(held)} as it left it; a later "
                    "correction changed it. Roll that one back first; nothing was changed."
                )


def _roll_back_locked(corrections: list[Correction], *, by, reason: str) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise CorrectionRefused("Say why it is rolled back.", fields={"reason": ["required"]})
    if not corrections:
        return
    book_writes.book_lock({c.dataset for c in corrections})
    _refuse_overtaken(corrections)
    reversals = book_writes.reverse_sets(
        (
            (
                SimpleNamespace(pk=c.applied_set_id, dataset_id=c.dataset_id),
                f"roll back of correction {c.pk}: {reason}",
            )
            for c in corrections
        ),
        by=by,
    )
    move_with_sets(corrections, reversals, S.APPLIED, S.ROLLED_BACK, "reversal_set", "rolled back")
    audit.record_many(
        [audit.Entry("correction.rolled_back", "correction", c.pk, {"status": "applied"},
                     {"status": "rolled_back", "reversal_set": c.reversal_set_id,
                      "reason": reason}) for c in corrections],
        actor=by,
    )  # fmt: skip
    outbox.publish_many(outbox.ROLLED_BACK, corrections)
