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

import json
from types import SimpleNamespace

import psycopg
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.access import has_capability
from audit import services as audit
from config import copy_insert
from config.errors import DomainError
from corrections import outbox, proposals, selectors, transitions
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
    live = brk.corrections.filter(status__in=LIVE).values_list("pk", "status").first()
    if live:
        raise CorrectionRefused(
            f"Break {brk.pk} has correction {live[0]} ({live[1]}): open it, or reject or roll it "
            "back, before proposing another."
        )
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
    previous = _superseded(supersedes or _last_ended(brk), brk)
    correction.supersedes_id = previous.pk if previous else None
    with transaction.atomic():
        # Every writer takes the book's lock before the audit chain's: no two wait in a circle.
        book_writes.book_lock([run.internal_dataset])
        entries = _store([correction])
        if correction.auto_approved:
            _apply_locked([correction], by=by, stale_fails=False, just_proposed=True)
        audit.record_many(entries, actor=by)
    return Correction.objects.get(pk=correction.pk)


def propose_for_run(run: Run, *, by=None) -> dict:
    """The run's automatic corrections: one per live break it saw with a suggested value (see
    `_breaks_to_correct`); those within the auto-correction limits are applied at once.

    Idempotent: a second call (a redelivered task) finds the breaks corrected and adds none.
    """
    if run.status != Run.Status.SUCCEEDED:
        raise CorrectionRefused(f"Run {run.pk} is {run.status}: only a succeeded run's breaks.")
    with transaction.atomic():
        # One proposer per run at a time: the second waits, then finds the corrections made.
        run = (
            Run.objects.select_for_update(of=("self",))
            .select_related(
                "internal_dataset__account",
                "external_dataset",
                "prices_dataset",
                "rule_set_version",
            )
            .get(pk=run.pk)
        )
        book_writes.book_lock([run.internal_dataset])
        built, refused, entries = _stored_proposals(run)
        automatic = [c for c in built if c.auto_approved]
        applied, failed = _apply_locked(automatic, by=by, stale_fails=True, just_proposed=True)
        audit.record_many(entries, actor=by)
    return {"proposed": len(built), "applied": applied, "failed": failed,
            "not_correctable": len(refused)}  # fmt: skip


def _stored_proposals(run: Run, attempts: int = 3):
    """Build and store the run's automatic corrections; a person proposing on one of its
    breaks at the same moment makes the insert fail whole: read the breaks again and retry."""
    for attempt in range(attempts):
        breaks = _breaks_to_correct(run)
        wanted = [proposals.Wanted(b, "suggested by the run", Correction.Origin.AUTOMATIC)
                  for b in breaks]  # fmt: skip
        built, refused = proposals.build(wanted, run, by=None)
        built = [c for c in built if not (c.operation == Op.ADJUST and c.delta == 0)]
        try:
            return built, refused, _store(built)
        except CorrectionRefused:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _correctable_run(brk: Break) -> Run:
    if brk.status not in (Break.Status.OPEN, Break.Status.INVESTIGATING):
        raise CorrectionRefused(f"Break {brk.pk} is {brk.status}: only a live break is corrected.")
    run = Run.objects.select_related(
        "internal_dataset__account", "external_dataset", "prices_dataset", "rule_set_version"
    ).get(pk=brk.last_seen_run_id)
    if run.status != Run.Status.SUCCEEDED:
        raise CorrectionRefused(f"Run {run.pk}, which last saw break {brk.pk}, is {run.status}.")
    return run


def _breaks_to_correct(run: Run) -> list[SimpleNamespace]:
    """The run's live breaks with a suggested value and no correction but failed ones, as plain
    objects with a Break's attribute names (one query; no model instance per break).

    A break whose correction someone rejected or rolled back gets no automatic one again: that
    person decided, and the next run must not undo it (a person may still propose one)."""
    table, corrections = Break._meta.db_table, Correction._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.id, b.field, b.asset, b.entity, b.internal_value, b.external_value, "  # noqa: S608
            f"b.difference, b.value_rc, b.suggested_value, b.details::text FROM {table} b "
            "WHERE b.last_seen_run_id = %s AND b.status IN ('open', 'investigating') "
            "AND b.suggested_value IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
            f"{corrections} c WHERE c.break_record_id = b.id AND c.status <> %s) "
            "ORDER BY b.id",
            # "Not failed" rather than a list of statuses: the planner cannot then pair the
            # break's index with the status index, a scan of every correction per break
            # when its statistics are stale (seen at 100,000 breaks: minutes, not a second).
            [run.pk, S.FAILED],
        )
        rows = cursor.fetchall()
    names = ("pk", "field", "asset", "entity", "internal_value", "external_value",
             "difference", "value_rc", "suggested_value")  # fmt: skip
    return [
        SimpleNamespace(**dict(zip(names, row[:-1], strict=True)), details=json.loads(row[-1]))
        for row in rows
    ]


def _last_ended(brk: Break) -> Correction | None:
    """The break's latest rejected or rolled-back correction: a new one links to it."""
    return brk.corrections.filter(status__in=[S.REJECTED, S.ROLLED_BACK]).order_by("-id").first()


def _superseded(previous: Correction | None, brk: Break) -> Correction | None:
    if previous is None:
        return None
    if previous.break_record_id != brk.pk or previous.status not in (S.REJECTED, S.ROLLED_BACK):
        raise CorrectionRefused(
            f"Correction {previous.pk} is not a rejected or rolled-back correction of this break."
        )
    return previous


def _store(corrections: list[SimpleNamespace]) -> list:
    """Insert corrections (auto-approved ones as approved), all or none; the audit entries of
    the others, for the caller to record (auto-approved ones are audited when applied, in the
    same transaction)."""
    if not corrections:
        return []
    now = timezone.now()
    for correction in corrections:
        if correction.auto_approved:
            correction.status, correction.approved_at = S.APPROVED, now
    try:
        with transaction.atomic():
            copy_insert.insert_rows(Correction, corrections)
    except (IntegrityError, psycopg.errors.UniqueViolation) as error:  # COPY's are psycopg's
        raise CorrectionRefused(
            "A break here already has a pending, approved or applied correction: open it "
            "rather than proposing another."
        ) from error
    return [audit.Entry("correction.proposed", "correction", c.pk, None, _state(c))
            for c in corrections if not c.auto_approved]  # fmt: skip


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


def revise(correction: Correction, *, by, reason: str, corrected_value=None,
           corrected_text: str = "") -> Correction:  # fmt: skip
    """Change a pending or approved correction's value: its content changes, so its approvals no
    longer count (they were given to the old content hash) and it is pending again. Whoever
    revises becomes its author: they cannot approve it; the first author now can."""
    _require(by, "propose_corrections", "revise corrections")
    reason = (reason or "").strip()
    if not reason:
        raise CorrectionRefused("Say why it changes.", fields={"reason": ["required"]})
    with transaction.atomic():
        correction = _locked(correction.pk)
        if correction.status not in (S.PENDING, S.APPROVED):
            raise CorrectionRefused(
                f"Correction {correction.pk} is {correction.get_status_display()}: only a "
                "pending or approved correction is revised."
            )
        brk = Break.objects.get(pk=correction.break_record_id)
        run = _correctable_run(brk)
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
        before = _state(correction)
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
                     after={**_state(correction), "reason": reason})  # fmt: skip
    return correction


# What a revision recomputes (the policy too: a new value may need other approvals).
REVISED = ("original_value", "corrected_value", "delta", "original_text", "corrected_text",
           "trade_row", "impact_rc", "price", "price_as_of", "portfolio_value_rc",
           "portfolio_share_pct", "change_pct", "validation", "rollback_plan", "reason",
           "approvals_required", "auto_approved", "policy_note", "content_hash",
           "created_by_id")  # fmt: skip


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


def _apply_locked(corrections, *, by, stale_fails: bool, just_proposed: bool = False):
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
    links = {c.pk: s.pk for c, s in zip(fresh, sets, strict=True)}
    now = timezone.now()
    if transitions.move_linked(links, S.APPROVED, S.APPLIED, "applied_set", now) != len(links):
        # The corrections are held locked, so this cannot happen; never apply one silently twice.
        raise CorrectionRefused("A correction changed while it was applied; nothing was applied.")
    for correction, adjustment_set in zip(fresh, sets, strict=True):
        correction.status, correction.applied_set_id = S.APPLIED, adjustment_set.pk
        correction.applied_at = now
    audit.record_many(
        [_applied_entry(c, just_proposed) for c in fresh]
        + [_failed_entry(c, just_proposed) for c, _ in stale],
        actor=by,
    )
    outbox.publish_many(outbox.APPLIED, fresh)  # told to the trading system (SPEC 3.5)
    return len(fresh), len(stale)


def _applied_entry(c, just_proposed: bool) -> audit.Entry:
    if just_proposed:  # proposed, approved within the limits, applied: one step, one entry
        return audit.Entry("correction.applied", "correction", c.pk, None, _state(c))
    return audit.Entry("correction.applied", "correction", c.pk, {"status": "approved"},
                       {"status": "applied", "adjustment_set": c.applied_set_id})  # fmt: skip


def _failed_entry(c, just_proposed: bool) -> audit.Entry:
    before = None if just_proposed else {"status": "approved"}
    return audit.Entry("correction.failed", "correction", c.pk, before,
                       {**_state(c), "failure": c.failure})  # fmt: skip


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
        # Still applied once locked: a roll back that committed meanwhile took the others.
        corrections = [c for c in _lock_all(list(ids)) if c.status == S.APPLIED]
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
                    f"is {_shown_value(now)} now, not {_shown_value(held)} as it left it; a later "
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
    links = {c.pk: r.pk for c, r in zip(corrections, reversals, strict=True)}
    now = timezone.now()
    if transitions.move_linked(links, S.APPLIED, S.ROLLED_BACK, "reversal_set", now) != len(links):
        raise CorrectionRefused("A correction changed while it was rolled back; nothing changed.")
    for correction, reversal in zip(corrections, reversals, strict=True):
        correction.status, correction.reversal_set_id = S.ROLLED_BACK, reversal.pk
        correction.rolled_back_at = now
    audit.record_many(
        [audit.Entry("correction.rolled_back", "correction", c.pk, {"status": "applied"},
                     {"status": "rolled_back", "reversal_set": c.reversal_set_id,
                      "reason": reason}) for c in corrections],
        actor=by,
    )  # fmt: skip
    outbox.publish_many(outbox.ROLLED_BACK, corrections)


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
