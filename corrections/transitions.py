"""The one place a correction's status changes (SPEC 3.4).

Each move is a conditional UPDATE guarded on the status it leaves: of two transactions moving
the same correction, the second finds it moved and changes nothing (it is told how many rows
moved, and its caller refuses or rolls back). The constraints on `Correction` are the last
line: a state they refuse cannot be stored, whoever writes. Callers audit each move in the
same transaction (services.py).

A correction within the auto-correction limits is created applied, not moved there: its
adjustments are written and it is inserted in the transaction that proposes it
(`services.applying.apply_proposed`), one audit entry for the three steps.
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from config import copy_insert
from corrections.models import Correction

S = Correction.Status
ALLOWED = {
    S.PENDING: {S.APPROVED, S.REJECTED},
    S.APPROVED: {S.APPLIED, S.FAILED, S.REJECTED, S.PENDING},  # pending again: revised
    S.APPLIED: {S.ROLLED_BACK},
    S.ROLLED_BACK: set(),
    S.REJECTED: set(),
    S.FAILED: set(),
}
# The time each status is reached at, stored with it.
REACHED_AT = {S.APPROVED: "approved_at", S.APPLIED: "applied_at",
              S.ROLLED_BACK: "rolled_back_at", S.REJECTED: "rejected_at"}  # fmt: skip


class IllegalTransition(Exception):
    """A move the state machine does not have (a programming error, never a user's)."""


def move(ids, source: str, target: str, **fields) -> int:
    """Move the corrections `ids` that are still in `source` to `target`; how many moved.

    `fields` are stored with the move (the adjustment set, a reason, a failure).
    """
    if target not in ALLOWED[source]:
        raise IllegalTransition(f"{source} -> {target}")
    now = timezone.now()
    if target in REACHED_AT:
        fields.setdefault(REACHED_AT[target], now)
    return Correction.objects.filter(pk__in=list(ids), status=source).update(
        status=target, changed_at=now, **fields
    )


def move_one(correction: Correction, source: str, target: str, **fields) -> bool:
    """Move one correction; on success the instance shows its new state."""
    moved = move([correction.pk], source, target, **fields) == 1
    if moved:
        correction.refresh_from_db()
    return moved


def move_linked(links: dict[int, int], source: str, target: str, link: str, now=None) -> int:
    """Move many corrections at once, each with its own adjustment set: `links` maps each
    correction's id to its set's id, stored in the field `link` (applied_set, reversal_set)."""
    if target not in ALLOWED[source]:
        raise IllegalTransition(f"{source} -> {target}")
    if link not in ("applied_set", "reversal_set"):
        raise ValueError(link)
    now = now or timezone.now()
    reached = REACHED_AT[target]
    table = Correction._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS c SET status = %s, changed_at = %s, {reached} = %s, "  # noqa: S608
            f"{link}_id = v.set_id FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, set_id) "
            "WHERE c.id = v.id AND c.status = %s",
            [
                target,
                now,
                now,
                copy_insert.int_array(links),
                copy_insert.int_array(links.values()),
                source,
            ],
        )
        return cursor.rowcount
