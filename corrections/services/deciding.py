"""Approving (four eyes; one at a time or many at once), rejecting and revising corrections
(SPEC 3.2)."""

from __future__ import annotations

from django.db import transaction

from audit import services as audit
from corrections import proposals, selectors, transitions
from corrections.models import Approval, Correction
from corrections.services.common import (
    CorrectionRefused,
    S,
    lock_all,
    locked,
    require,
    state,
)
from corrections.services.proposing import correctable_run
from reconciliation.models import Break


def approve(correction: Correction, *, by) -> Correction:
    """One approval by `by`; the correction is approved once it has the approvals it needs."""
    require(by, "approve_corrections", "approve corrections")
    with transaction.atomic():
        correction = locked(correction.pk)
        if correction.status != S.PENDING:
            raise CorrectionRefused(
                f"Correction {correction.pk} is {correction.get_status_display()}: only a "
                "pending correction is approved."
            )
        if correction.created_by_id == by.pk:
            raise CorrectionRefused(
                "You proposed this correction: someone else must approve it (four eyes)."
            )
        # The current content's approvals, never its author's own (a reviser who approved
        # the same content before becoming its author does not count).
        approvals = correction.approvals.filter(content_hash=correction.content_hash).exclude(
            approver_id=correction.created_by_id
        )
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
            before = state(correction)
            transitions.move_one(correction, S.PENDING, S.APPROVED)
            audit.record(
                action="correction.approved",
                actor=by,
                object_type="correction",
                object_id=correction.pk,
                before=before,
                after=state(correction),
            )
    return correction


def reject(correction: Correction, *, by, reason: str) -> Correction:
    """Reject a pending or approved correction, with a reason; final."""
    require(by, "approve_corrections", "reject corrections")
    reason = (reason or "").strip()
    if not reason:
        raise CorrectionRefused("Say why it is rejected.", fields={"reason": ["required"]})
    with transaction.atomic():
        correction = locked(correction.pk)
        if correction.status not in (S.PENDING, S.APPROVED):
            raise CorrectionRefused(
                f"Correction {correction.pk} is {correction.get_status_display()}: it can no "
                "longer be rejected."
            )
        before = state(correction)
        transitions.move_one(correction, correction.status, S.REJECTED, rejection_reason=reason)
        audit.record(action="correction.rejected", actor=by, object_type="correction",
                     object_id=correction.pk, before=before,
                     after={**state(correction), "reason": reason})  # fmt: skip
    return correction


def revise(correction: Correction, *, by, reason: str, corrected_value=None,
           corrected_text: str = "") -> Correction:  # fmt: skip
    """Change a pending or approved correction's value: its content changes, so its approvals no
    longer count (they were given to the old content hash) and it is pending again. Whoever
    revises becomes its author: they cannot approve it; the first author now can."""
    require(by, "propose_corrections", "revise corrections")
    reason = (reason or "").strip()
    if not reason:
        raise CorrectionRefused("Say why it changes.", fields={"reason": ["required"]})
    with transaction.atomic():
        correction = locked(correction.pk)
        if correction.status not in (S.PENDING, S.APPROVED):
            raise CorrectionRefused(
                f"Correction {correction.pk} is {correction.get_status_display()}: only a "
                "pending or approved correction is revised."
            )
        brk = Break.objects.get(pk=correction.break_record_id)
        run = correctable_run(brk)
        if run.pk != correction.run_id:
            raise CorrectionRefused(
                f"Break {brk.pk} was seen by run {run.pk} since: reject this correction and "
                "propose one from that run."
            )
        wanted = proposals.Wanted(brk, reason, correction.origin, corrected_value, corrected_text)
        built, refused = proposals.build([wanted], run, by=audit.acting_user(by))
        if refused:
            raise CorrectionRefused(refused[brk.pk])
        new = built[0]
        if new.content_hash == correction.content_hash:
            raise CorrectionRefused("That is what the correction already says: nothing changed.")
        before = state(correction)
        changed = {name: getattr(new, name) for name in REVISED}
        if new.approvals_required == 0:  # a person's edit is never approved by the rule set
            note = f"{new.policy_note}; revised by a person: one approver"
            changed.update(approvals_required=1, auto_approved=False, policy_note=note)
        if correction.status == S.APPROVED:
            transitions.move([correction.pk], S.APPROVED, S.PENDING, approved_at=None, **changed)
        else:
            Correction.objects.filter(pk=correction.pk, status=S.PENDING).update(**changed)
        correction.refresh_from_db()
        audit.record(action="correction.revised", actor=by, object_type="correction",
                     object_id=correction.pk, before=before,
                     after={**state(correction), "reason": reason})  # fmt: skip
    return correction


# What a revision recomputes (the policy too: a new value may need other approvals).
REVISED = ("original_value", "corrected_value", "delta", "original_text", "corrected_text",
           "trade_row", "impact_rc", "price", "price_as_of", "portfolio_value_rc",
           "portfolio_share_pct", "change_pct", "validation", "rollback_plan", "reason",
           "approvals_required", "auto_approved", "policy_note", "content_hash",
           "created_by_id")  # fmt: skip


def approve_many(corrections, *, by) -> list[Correction]:
    """Approve each of `corrections` by `by`, all or nothing: one that `by` may not approve
    refuses the whole batch, naming each such correction and why."""
    require(by, "approve_corrections", "approve corrections")
    ids = sorted({c.pk for c in corrections})
    if not ids:
        raise CorrectionRefused("Choose the corrections to approve.", fields={"ids": ["required"]})
    with transaction.atomic():
        locked = lock_all(ids)
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
