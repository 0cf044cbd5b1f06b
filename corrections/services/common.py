"""What every correction service shares: the refusals, the permission check, the locks and
the audited state."""

from __future__ import annotations

from django.utils import timezone

from accounts.access import has_capability
from audit import chain
from config import copy_insert
from config.errors import DomainError
from corrections import transitions
from corrections.models import Correction

S = Correction.Status
Op = Correction.Operation


class CorrectionRefused(DomainError):
    code = "correction_refused"


class NotAllowed(DomainError):
    code = "permission_denied"


class StaleCorrection(DomainError):
    code = "correction_stale"


def require(user, capability: str, doing: str) -> None:
    if not has_capability(user, capability):
        raise NotAllowed(f"You may not {doing}.")


def state(correction: Correction) -> dict:
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


# `state`'s members in key order: its canonical JSON is this template filled.
_STATE_TEXT = (
    '{"approvals_required":%s,"auto_approved":%s,"break":%s,"content_hash":%s,"corrected":%s,'
    '"corrected_text":%s,"delta":%s,"field":%s,"impact_rc":%s,"operation":%s,"original":%s,'
    '"original_text":%s,"policy":%s,"status":%s,"target":%s}'
)


def state_json(correction: Correction) -> copy_insert.JsonText:
    """`state(correction)` as the audit stores and hashes it (the same text as
    `chain.stored_json(state(correction))`), written member by member: a run audits a hundred
    thousand corrections at once."""
    c, j = correction, chain.scalar_json
    return copy_insert.JsonText(_STATE_TEXT % (
        j(c.approvals_required), j(c.auto_approved), j(c.break_record_id), j(c.content_hash),
        j(c.corrected_value), j(c.corrected_text), j(c.delta), j(c.field), j(c.impact_rc),
        j(str(c.operation)), j(c.original_value), j(c.original_text), j(c.policy_note),
        j(str(c.status)), j(c.target),
    ))  # fmt: skip


def locked(pk: int) -> Correction:
    return (
        Correction.objects.select_for_update(of=("self",))
        .select_related("dataset__account")
        .get(pk=pk)
    )


def lock_all(ids) -> list[Correction]:
    return list(
        Correction.objects.select_for_update(of=("self",))
        .select_related("dataset__account")
        .filter(pk__in=ids)
        .order_by("pk")
    )


def move_with_sets(corrections, sets, source: str, target: str, link: str, doing: str) -> None:
    """Move held corrections to `target`, each linked to its adjustment set (`link`:
    applied_set, reversal_set), and show it on the objects; refused whole if any moved meanwhile
    (they are held locked, so it cannot happen: never apply or roll back one silently twice)."""
    links = {c.pk: s.pk for c, s in zip(corrections, sets, strict=True)}
    now = timezone.now()
    if transitions.move_linked(links, source, target, link, now) != len(links):
        raise CorrectionRefused(f"A correction changed while it was {doing}; nothing changed.")
    reached = transitions.REACHED_AT[target]
    for correction, adjustment_set in zip(corrections, sets, strict=True):
        correction.status = target
        setattr(correction, f"{link}_id", adjustment_set.pk)
        setattr(correction, reached, now)
