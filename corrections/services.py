"""Corrections (SPEC 3): propose, approve, reject, apply, roll back; one or a run's all at once.

Every write is one transaction that locks the corrections it changes (in id order, so two
writers never wait on each other in a circle), moves them through `transitions.py`, writes
their book adjustments through `reconciliation.book.services`, and audits each step in the
same transaction: a failure anywhere leaves nothing behind.

Applying checks that the book still holds what the correction says it changes (the stale
guard): a correction whose original value is not the effective book's value now is refused,
naming both, and nothing changes.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.access import has_capability
from audit import services as audit
from config.errors import DomainError
from corrections import proposals, selectors, transitions
from corrections.models import LIVE, Approval, Correction
from corrections.targets import NotCorrectable
from reconciliation.book import selectors as book
from reconciliation.book import services as book_writes
from reconciliation.models import Break, Run

S = Correction.Status
Op = Correction.Operation


class CorrectionRefused(DomainError):
    code = "correction_refused"


class NotAllowed(DomainError):
    code = "permission_denied"


class StaleCorrection(DomainError):
    code = "correction_stale"


def _require(user, capability: str, doing: str) -> None:
    if not has_capability(user, capability):
        raise NotAllowed(f"You may not {doing}.")


# --- Proposing ---------------------------------------------------------------------------------


def propose(brk: Break, *, by, reason: str, corrected_value=None, corrected_text: str = "",
            origin: str = Correction.Origin.MANUAL, supersedes: Correction | None = None
            ) -> Correction:  # fmt: skip
    """A person's (or a system's) correction of one break, from its latest run."""
    _require(by, "propose_corrections", "propose corrections")
    reason = (reason or "").strip()
    if not reason:
        raise CorrectionRefused("Say why the book should change.", fields={"reason": ["required"]})
    run = _correctable_run(brk)
    wanted = proposals.Wanted(brk, reason, origin, corrected_value, corrected_text)
    built, refused = proposals.build([wanted], run, by=audit.acting_user(by))
    if refused:
        raise NotCorrectable(refused[brk.pk])
    correction = built[0]
    if correction.delta == 0 and correction.operation == Op.ADJUST:
        raise CorrectionRefused(
            f"The book already holds {correction.corrected_value} for {correction.target}: "
            "there is nothing to correct.", fields={"corrected_value": ["equals the book"]},
        )  # fmt: skip
    correction.supersedes = _superseded(supersedes, brk)
    with transaction.atomic():
        _store([correction], by=by)
        if correction.auto_approved:
            _apply_locked([correction], by=by, stale_fails=False)
    correction.refresh_from_db()
    return correction


def propose_for_run(run: Run, *, by=None) -> dict:
    """The run's automatic corrections: one per live break it saw with a suggested value and
    no live correction; those within the auto-correction limits are applied at once.

    Idempotent: a second call (a redelivered task) finds the breaks corrected and adds none.
    """
    if run.status != Run.Status.SUCCEEDED:
        raise CorrectionRefused(f"Run {run.pk} is {run.status}: only a succeeded run's breaks.")
    with transaction.atomic():
        # One proposer per run at a time: the second waits, then finds the corrections made.
        Run.objects.select_for_update().filter(pk=run.pk).first()
        breaks = _breaks_to_correct(run)
        wanted = [proposals.Wanted(b, "suggested by the run", Correction.Origin.AUTOMATIC)
                  for b in breaks]  # fmt: skip
        built, refused = proposals.build(wanted, run, by=None)
        built = [c for c in built if not (c.operation == Op.ADJUST and c.delta == 0)]
        _store(built, by=by)
        automatic = [c for c in built if c.auto_approved]
        applied, failed = _apply_locked(automatic, by=by, stale_fails=True)
    return {"proposed": len(built), "applied": applied, "failed": failed,
            "not_correctable": len(refused)}  # fmt: skip


def _correctable_run(brk: Break) -> Run:
    if brk.status not in (Break.Status.OPEN, Break.Status.INVESTIGATING):
        raise CorrectionRefused(f"Break {brk.pk} is {brk.status}: only a live break is corrected.")
    run = Run.objects.select_related(
        "internal_dataset__account", "external_dataset", "prices_dataset", "rule_set_version"
    ).get(pk=brk.last_seen_run_id)
    if run.status != Run.Status.SUCCEEDED:
        raise CorrectionRefused(f"Run {run.pk}, which last saw break {brk.pk}, is {run.status}.")
    return run


def _breaks_to_correct(run: Run) -> list[Break]:
    return list(
        Break.objects.filter(
            last_seen_run=run, status__in=[Break.Status.OPEN, Break.Status.INVESTIGATING],
            suggested_value__isnull=False,
        ).exclude(corrections__status__in=LIVE).order_by("id")
    )  # fmt: skip


def _superseded(previous: Correction | None, brk: Break) -> Correction | None:
    if previous is None:
        return None
    if previous.break_record_id != brk.pk or previous.status not in (S.REJECTED, S.ROLLED_BACK):
        raise CorrectionRefused(
            f"Correction {previous.pk} is not a rejected or rolled-back correction of this break."
        )
    return previous


def _store(corrections: list[Correction], *, by) -> None:
    """Insert corrections (auto-approved ones as approved) and audit each, or none."""
    if not corrections:
        return
    from django.utils import timezone

    now = timezone.now()
    for correction in corrections:
        if correction.auto_approved:
            correction.status, correction.approved_at = S.APPROVED, now
    try:
        with transaction.atomic():
            Correction.objects.bulk_create(corrections, batch_size=2000)
    except IntegrityError as error:
        raise CorrectionRefused(
            "A break here already has a pending, approved or applied correction: open it "
            "rather than proposing another."
        ) from error
    entries = [audit.Entry("correction.proposed", "correction", c.pk, None, _state(c))
               for c in corrections]  # fmt: skip
    audit.record_many(entries, actor=by)


def _state(correction: Correction) -> dict:
    return {
        "status": correction.status, "break": correction.break_record_id,
        "target": correction.target, "field": correction.field,
        "operation": correction.operation, "original": correction.original_value,
        "corrected": correction.corrected_value, "delta": correction.delta,
        "original_text": correction.original_text, "corrected_text": correction.corrected_text,
        "impact_rc": correction.impact_rc, "approvals_required": correction.approvals_required,
        "auto_approved": correction.auto_approved, "policy": correction.policy_note,
        "content_hash": correction.content_hash,
    }  # fmt: skip


# --- Approving and rejecting -------------------------------------------------------------------


def approve(correction: Correction, *, by) -> Correction:
    """One approval by `by`; the correction is approved once it has the approvals it needs."""
    _require(by, "approve_corrections", "approve corrections")
    with transaction.atomic():
        correction = _locked(correction.pk)
        if correction.status != S.PENDING:
            raise CorrectionRefused(
                f"Correction {correction.pk} is {correction.get_status_display()}: only a "
                "pending correction is approved."
            )
        if correction.created_by_id == by.pk:
            raise CorrectionRefused(
                "You proposed this correction: someone else must approve it (four eyes)."
            )
        approvals = correction.approvals.filter(content_hash=correction.content_hash)
        if approvals.filter(approver=by).exists():
            raise CorrectionRefused(
                "You have approved this correction already: it needs another person's approval."
            )
        Approval.objects.create(
            correction=correction, approver=by, creator_id=correction.created_by_id,
            content_hash=correction.content_hash,
        )  # fmt: skip
        count = approvals.count()
        audit.record(
            action="correction.approval", actor=by, object_type="correction",
            object_id=correction.pk, after={"approvals": count, "needed":
                                            correction.approvals_required,
                                            "content_hash": correction.content_hash},
        )  # fmt: skip
        if count >= correction.approvals_required:
            before = _state(correction)
            transitions.move_one(correction, S.PENDING, S.APPROVED)
            audit.record(
                action="correction.approved",
                actor=by,
                object_type="correction",
                object_id=correction.pk,
                before=before,
                after=_state(correction),
            )
    return correction


def reject(correction: Correction, *, by, reason: str) -> Correction:
    """Reject a pending or approved correction, with a reason; final."""
    _require(by, "approve_corrections", "reject corrections")
    reason = (reason or "").strip()
    if not reason:
        raise CorrectionRefused("Say why it is rejected.", fields={"reason": ["required"]})
    with transaction.atomic():
        correction = _locked(correction.pk)
        if correction.status not in (S.PENDING, S.APPROVED):
            raise CorrectionRefused(
                f"Correction {correction.pk} is {correction.get_status_display()}: it can no "
                "longer be rejected."
            )
        before = _state(correction)
        transitions.move_one(correction, correction.status, S.REJECTED, rejection_reason=reason)
        audit.record(action="correction.rejected", actor=by, object_type="correction",
                     object_id=correction.pk, before=before,
                     after={**_state(correction), "reason": reason})  # fmt: skip
    return correction


def _locked(pk: int) -> Correction:
    return (
        Correction.objects.select_for_update(of=("self",))
        .select_related("dataset__account")
        .get(pk=pk)
    )


# --- Applying and rolling back -----------------------------------------------------------------


def apply(correction: Correction, *, by) -> Correction:
    """Write an approved correction's adjustments to the book, once."""
    _require(by, "approve_corrections", "apply corrections")
    with transaction.atomic():
        correction = _locked(correction.pk)
        if correction.status == S.APPLIED:
            raise CorrectionRefused(f"Correction {correction.pk} is applied already.")
        if correction.status != S.APPROVED:
            raise CorrectionRefused(
                f"Correction {correction.pk} is {correction.get_status_display()}: only an "
                "approved correction is applied."
            )
        _apply_locked([correction], by=by, stale_fails=False)
    correction.refresh_from_db()
    return correction


def apply_run(run: Run, *, by) -> int:
    """Apply every approved correction of the run, all or nothing; how many were applied."""
    _require(by, "approve_corrections", "apply corrections")
    with transaction.atomic():
        ids = list(
            Correction.objects.filter(run=run, status=S.APPROVED).values_list("pk", flat=True)
        )
        corrections = _lock_all(ids)
        applied, _ = _apply_locked(corrections, by=by, stale_fails=False)
    return applied


def _lock_all(ids) -> list[Correction]:
    return list(
        Correction.objects.select_for_update(of=("self",))
        .select_related("dataset__account")
        .filter(pk__in=ids)
        .order_by("pk")
    )


def _apply_locked(corrections: list[Correction], *, by, stale_fails: bool) -> tuple[int, int]:
    """Apply corrections held locked (approved), inside the caller's transaction.

    Stale ones raise StaleCorrection (nothing changes), or with `stale_fails` are marked failed
    (a run's automatic corrections: the rest still apply).
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
        transitions.move_one(
            correction,
            S.APPROVED,
            S.FAILED,
            failure=f"stale: the book holds {current}, not {_shown(correction)}",
        )
    sets = book_writes.write_sets(
        ((c.dataset, _changes(c), f"correction {c.pk}") for c in fresh), by=by
    )
    for correction, adjustment_set in zip(fresh, sets, strict=True):
        moved = transitions.move_one(correction, S.APPROVED, S.APPLIED, applied_set=adjustment_set)
        if not moved:  # the lock makes this impossible; never write a set twice silently
            raise CorrectionRefused(f"Correction {correction.pk} changed while it was applied.")
    entries = [audit.Entry("correction.applied", "correction", c.pk, {"status": "approved"},
                           {"status": "applied", "adjustment_set": c.applied_set_id})
               for c in fresh]  # fmt: skip
    entries += [
        audit.Entry(
            "correction.failed",
            "correction",
            c.pk,
            {"status": "approved"},
            {"status": "failed", "failure": c.failure},
        )
        for c, _ in stale
    ]
    audit.record_many(entries, actor=by)
    return len(fresh), len(stale)


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
                stale.append((correction, _shown_value(now)))
    return fresh, stale


def _current(correction: Correction, current: dict):
    if correction.operation == Op.SET:
        text = current.get((correction.target, correction.field))
        fee = current.get((correction.target, "fee")) if correction.field == "fee_asset" else None
        return (text, fee)
    field = "trade" if correction.operation in (Op.ADD_TRADE, Op.CANCEL_TRADE) else correction.field
    return current.get((correction.target, field), proposals.ABSENT)


def _expected(correction: Correction):
    if correction.operation == Op.SET:
        return (correction.original_text, correction.original_value)
    return correction.original_value


def _shown(correction: Correction) -> str:
    return _shown_value(_expected(correction))


def _shown_value(value) -> str:
    if isinstance(value, tuple):
        return " / ".join(_shown_value(v) for v in value if v is not None)
    return (
        "nothing"
        if value is None
        else (format(value.normalize(), "f") if hasattr(value, "normalize") else str(value))
    )


def _changes(correction: Correction) -> list[book_writes.Change]:
    base = {"kind": correction.record_kind, "account": correction.dataset.account.code,
            "key": correction.target, "field": correction.field}  # fmt: skip
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


def roll_back(correction: Correction, *, by, reason: str) -> Correction:
    """Reverse an applied correction's adjustments, once, dated now."""
    _require(by, "approve_corrections", "roll back corrections")
    with transaction.atomic():
        correction = _locked(correction.pk)
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
    _require(by, "approve_corrections", "roll back corrections")
    with transaction.atomic():
        ids = Correction.objects.filter(run=run, status=S.APPLIED).values_list("pk", flat=True)
        corrections = _lock_all(list(ids))
        _roll_back_locked(corrections, by=by, reason=reason)
    return len(corrections)


def _roll_back_locked(corrections: list[Correction], *, by, reason: str) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise CorrectionRefused("Say why it is rolled back.", fields={"reason": ["required"]})
    if not corrections:
        return
    reversals = book_writes.reverse_sets(
        ((c.applied_set, f"roll back of correction {c.pk}: {reason}") for c in corrections), by=by
    )
    for correction, reversal in zip(corrections, reversals, strict=True):
        if not transitions.move_one(correction, S.APPLIED, S.ROLLED_BACK, reversal_set=reversal):
            raise CorrectionRefused(f"Correction {correction.pk} changed while it was rolled back.")
    audit.record_many(
        [audit.Entry("correction.rolled_back", "correction", c.pk, {"status": "applied"},
                     {"status": "rolled_back", "reversal_set": c.reversal_set_id,
                      "reason": reason}) for c in corrections],
        actor=by,
    )  # fmt: skip


# --- Approving many at once (the approvals queue's bulk approve) -------------------------------


def approve_many(corrections, *, by) -> list[Correction]:
    """Approve each of `corrections` by `by`, all or nothing: one that `by` may not approve
    refuses the whole batch, naming each such correction and why."""
    _require(by, "approve_corrections", "approve corrections")
    ids = sorted({c.pk for c in corrections})
    if not ids:
        raise CorrectionRefused("Choose the corrections to approve.", fields={"ids": ["required"]})
    with transaction.atomic():
        locked = _lock_all(ids)
        missing = sorted(set(ids) - {c.pk for c in locked})
        refusals = {pk: "no such correction" for pk in missing}
        refusals |= {c.pk: why for c in locked if (why := selectors.approval_refusal(by, c))}
        if refusals:
            named = "; ".join(f"{pk}: {why}" for pk, why in sorted(refusals.items()))
            raise CorrectionRefused(
                f"Nothing was approved: you may not approve {len(refusals)} of the "
                f"{len(ids)} corrections ({named}).",
                fields={"ids": [str(pk) for pk in sorted(refusals)]},
            )
        return [approve(c, by=by) for c in locked]
