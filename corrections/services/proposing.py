"""Proposing corrections: a person's on one break, or a run's automatic ones at once (SPEC 3.1)."""

from __future__ import annotations

import json
from contextlib import contextmanager, nullcontext

import psycopg
from django.db import IntegrityError, connection, transaction

from audit import services as audit
from config import bulk, copy_insert
from corrections import outbox, proposals
from corrections.models import LIVE, Correction, Delivery, OutboxEvent
from corrections.services.applying import apply_proposed
from corrections.services.common import (
    CorrectionRefused,
    Op,
    S,
    require,
    state_json,
)
from corrections.targets import NotCorrectable
from reconciliation.book import services as book_writes
from reconciliation.models import Adjustment, AdjustmentSet, Break, Run


def propose(brk: Break, *, by, reason: str, corrected_value=None, corrected_text: str = "",
            origin: str = Correction.Origin.MANUAL, supersedes: Correction | None = None
            ) -> Correction:  # fmt: skip
    """A person's (or a system's) correction of one break, from its latest run."""
    require(by, "propose_corrections", "propose corrections")
    reason = (reason or "").strip()
    if not reason:
        raise CorrectionRefused("Say why the book should change.", fields={"reason": ["required"]})
    run = correctable_run(brk)
    live = brk.corrections.filter(status__in=LIVE).values_list("pk", "status").first()
    if live:
        raise CorrectionRefused(
            f"Break {brk.pk} has correction {live[0]} ({live[1]}): open it, or reject or roll it "
            "back, before proposing another."
        )
    wanted = proposals.Wanted(brk, reason, origin, corrected_value, corrected_text)
    with transaction.atomic():
        # Every writer takes the book's lock before the audit chain's: no two wait in a circle.
        # Built under it: the values it changes are the book's, so none is stale if it is
        # applied at once (within the auto-correction limits).
        book_writes.book_lock([run.internal_dataset])
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
        _store([[correction]], by=by).write()
    return Correction.objects.get(pk=correction.pk)


def propose_for_run(run: Run, *, by=None) -> dict:
    """The run's automatic corrections: one per live break it saw with a suggested value (see
    `_breaks_to_correct`); those within the auto-correction limits are applied at once.

    Idempotent: a second call (a redelivered task) finds the breaks corrected and adds none.
    """
    if run.status != Run.Status.SUCCEEDED:
        raise CorrectionRefused(f"Run {run.pk} is {run.status}: only a succeeded run's breaks.")
    with bulk.cyclic_gc_paused(), transaction.atomic():
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
        built, refused, entries = _stored_proposals(run, by)
        if entries is not None:
            entries.write()
    applied = sum(1 for c in built if c.status == S.APPLIED)
    return {"proposed": len(built), "applied": applied, "not_correctable": len(refused)}


def _stored_proposals(run: Run, by, attempts: int = 3):
    """Build and store the run's automatic corrections; a person proposing on one of its
    breaks at the same moment makes the insert fail whole: read the breaks again and retry.

    Built under the book's lock, taken before the book's values were read: the values they
    change are the book's, so none can be stale when those within the limits are applied.
    Built in parts, each stored while the next is built (`_store`)."""
    for attempt in range(attempts):
        breaks = _breaks_to_correct(run)
        wanted = [proposals.Wanted(b, "suggested by the run", Correction.Origin.AUTOMATIC)
                  for b in breaks]  # fmt: skip
        prepared = proposals.prepare(run, by=None)
        built: list = []

        def parts(wanted=wanted, prepared=prepared, built=built):
            for start, end in _parts(len(wanted)):
                part = [c for c in prepared.corrections(wanted[start:end])
                        if not (c.operation == Op.ADJUST and c.delta == 0)]  # fmt: skip
                built.extend(part)
                yield part

        try:
            entries = _store(parts(), by=by, in_parts=True)
        except CorrectionRefused:
            if attempt == attempts - 1:
                raise
        else:
            return built, prepared.refused, entries
    raise AssertionError("unreachable")


def _parts(count: int):
    """(start, end) of each part: a small first one, so the server starts storing soon."""
    start, size = 0, FIRST_PART_SIZE
    while start < count:
        yield start, min(start + size, count)
        start, size = start + size, PART_SIZE


# Corrections built and stored at a time: small enough that the server's work on one part
# overlaps the building of the next, large enough that each COPY carries a batch.
PART_SIZE = 10_000
FIRST_PART_SIZE = 2_000


def correctable_run(brk: Break) -> Run:
    if brk.status not in (Break.Status.OPEN, Break.Status.INVESTIGATING):
        raise CorrectionRefused(f"Break {brk.pk} is {brk.status}: only a live break is corrected.")
    run = Run.objects.select_related(
        "internal_dataset__account", "external_dataset", "prices_dataset", "rule_set_version"
    ).get(pk=brk.last_seen_run_id)
    if run.status != Run.Status.SUCCEEDED:
        raise CorrectionRefused(f"Run {run.pk}, which last saw break {brk.pk}, is {run.status}.")
    return run


def _breaks_to_correct(run: Run) -> list[BreakRow]:
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
    return [BreakRow(*row) for row in rows]


class BreakRow:
    """The columns of a break that proposing reads, under a Break's attribute names: a plain
    object (a run's hundred thousand cost a fraction of model instances), its details parsed
    when first read (a balance's correction never reads them)."""

    __slots__ = (
        "_details",
        "asset",
        "difference",
        "entity",
        "external_value",
        "field",
        "internal_value",
        "pk",
        "suggested_value",
        "value_rc",
    )  # fmt: skip

    def __init__(self, pk, field, asset, entity, internal_value, external_value, difference,
                 value_rc, suggested_value, details_text):  # fmt: skip
        self.pk, self.field, self.asset, self.entity = pk, field, asset, entity
        self.internal_value, self.external_value = internal_value, external_value
        self.difference, self.value_rc = difference, value_rc
        self.suggested_value, self._details = suggested_value, details_text

    @property
    def details(self) -> dict:
        if isinstance(self._details, str):
            self._details = json.loads(self._details)
        return self._details


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


def _store(parts, *, by, in_parts: bool = False) -> audit.Appending | None:
    """Insert corrections given in `parts` (lists, built as they are asked for), all or none:
    those within the auto-correction limits already applied (`apply_proposed`, which writes
    their adjustments), the others pending; each audited in one entry. Returns the audit's
    entries, for the caller to write as its last step.

    The caller holds the book's lock since it read the values they change. `in_parts`: a
    run's many; each part is sent by `copy_insert.pipelined` while the next is built, its
    foreign keys checked by the server as it is stored (not all at commit, when nothing else
    could go on)."""
    who = audit.acting_user(by)
    who_id = who.pk if who is not None else None
    endpoints = outbox.enabled_endpoints()
    entries, stored = None, 0
    try:
        with transaction.atomic(), _sent_in_parts() if in_parts else nullcontext() as keys:
            for corrections in parts:
                if not corrections:
                    continue
                if entries is None:  # the book's lock first, then the chain's
                    entries = audit.Appending(actor=by)
                _store_part(corrections, entries, who_id, endpoints)
                stored += len(corrections)
                if keys is not None and stored >= KEYS_CHECKED_FROM:
                    keys.check_the_rest_now()
            outbox.relay_when_committed(endpoints if stored else [])  # once, not per part
    except (IntegrityError, psycopg.errors.UniqueViolation) as error:  # COPY's are psycopg's
        raise CorrectionRefused(
            "A break here already has a pending, approved or applied correction: open it "
            "rather than proposing another."
        ) from error
    return entries


def _store_part(corrections, entries: audit.Appending, who_id, endpoints) -> None:
    """One part, in the order its foreign keys need: the applied ones' adjustment sets, the
    corrections, their events, their audit entries. No query but drawing ids."""
    copy_insert.reserve_ids(Correction, corrections)
    applied = [c for c in corrections if c.auto_approved]
    apply_proposed(applied, who_id=who_id)
    copy_insert.insert_rows(Correction, corrections, ids_reserved=True)
    outbox.publish_many(outbox.APPLIED, applied, new=True, endpoints=endpoints, relay=False)
    entries.add(_audit_entries(corrections))
    entries.flush()


@contextmanager
def _sent_in_parts():
    # The tables a proposal writes: their foreign keys are checked as each part is stored.
    written = (AdjustmentSet, Adjustment, Correction, OutboxEvent, Delivery)
    with copy_insert.ForeignKeysCheckedNow(written) as keys, copy_insert.pipelined():
        yield keys


# Once this many corrections are stored, the keys between the tables a proposal writes (a
# correction's adjustment set, an event's correction) are checked as each part is stored too:
# those tables are then large enough for the server to plan each check as an index lookup.
KEYS_CHECKED_FROM = 10_000


def _audit_entries(corrections) -> list[audit.Entry]:
    return [audit.Entry(_ACTION[c.status], "correction", c.pk, None, state_json(c))
            for c in corrections]  # fmt: skip


# Proposed, or proposed, approved within the limits and applied: one step, one entry.
_ACTION = {S.PENDING: "correction.proposed", S.APPLIED: "correction.applied"}
