"""A break's life (SPEC 2.5): investigate, accept with a reason, assign, comment; all audited.

Resolution is the runs' job: a later run that no longer sees a break resolves it.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.access import has_capability
from audit import services as audit
from config.errors import DomainError
from config.query import is_id
from reconciliation.models import Break, BreakComment

MAX_BULK = 1000
MAX_COMMENT = 10_000  # characters


class BreakActionRefused(DomainError):
    code = "break_action_refused"


class BreakInputInvalid(BreakActionRefused):
    """Posted values that cannot be used at all (not a conflict with the break's state)."""

    code = "break_input_invalid"


def _locked(breaks: list[int]) -> list[Break]:
    # Rows are locked in primary-key order so two bulk actions never deadlock.
    return list(Break.objects.select_for_update(no_key=True).filter(pk__in=breaks).order_by("pk"))


def _check_size(ids: list[int]) -> None:
    if not ids:
        raise BreakActionRefused("Choose at least one break.")
    if len(ids) > MAX_BULK:
        raise BreakActionRefused(f"At most {MAX_BULK} breaks at a time.")


def investigate(ids: list[int], *, by) -> int:
    """Open breaks become 'investigating'."""
    _check_size(ids)
    with transaction.atomic():
        changed = [b for b in _locked(ids) if b.status == Break.Status.OPEN]
        Break.objects.filter(pk__in=[b.pk for b in changed]).update(
            status=Break.Status.INVESTIGATING
        )
        for item in changed:
            audit.record(action="break.investigating", actor=by, object_type="break",
                         object_id=item.pk, before={"status": item.status},
                         after={"status": "investigating"})  # fmt: skip
    return len(changed)


def accept(ids: list[int], *, reason: str, by) -> int:
    """Accept open or investigating breaks as known differences; a reason is required."""
    _check_size(ids)
    reason = reason.strip()
    _no_nul(reason, "reason")
    if len(reason) < 5:
        raise BreakActionRefused(
            "Say why these differences are accepted (at least 5 characters).",
            fields={"reason": ["is required"]},
        )
    with transaction.atomic():
        changed = [b for b in _locked(ids) if b.status in ("open", "investigating")]
        Break.objects.filter(pk__in=[b.pk for b in changed]).update(
            status=Break.Status.ACCEPTED, accepted_reason=reason
        )
        for item in changed:
            audit.record(action="break.accepted", actor=by, object_type="break",
                         object_id=item.pk, before={"status": item.status},
                         after={"status": "accepted", "reason": reason})  # fmt: skip
    return len(changed)


def reopen(ids: list[int], *, by) -> int:
    """Reopen accepted breaks; all of them or, if one is not accepted, none."""
    _check_size(ids)
    with transaction.atomic():
        items = _locked(ids)
        if len(items) != len(set(ids)) or any(b.status != Break.Status.ACCEPTED for b in items):
            raise BreakActionRefused("Only accepted breaks can be reopened; nothing was changed.")
        Break.objects.filter(pk__in=[b.pk for b in items]).update(
            status=Break.Status.OPEN, accepted_reason=""
        )
        for item in items:
            audit.record(action="break.reopened", actor=by, object_type="break",
                         object_id=item.pk, before={"status": "accepted",
                         "reason": item.accepted_reason}, after={"status": "open"})  # fmt: skip
    return len(items)


def assign(ids: list[int], *, assignee_id: int | None, by) -> int:
    """Give breaks to someone who may work them (None: unassign)."""
    _check_size(ids)
    assignee = None
    if assignee_id is not None:
        assignee = get_user_model().objects.filter(pk=assignee_id, is_active=True).first()
        if assignee is None or not has_capability(assignee, "work_breaks"):
            raise BreakActionRefused(
                "Breaks can be assigned only to active users who may work them (risk, admin).",
                fields={"assignee": ["not allowed"]},
            )
    with transaction.atomic():
        items = _locked(ids)
        Break.objects.filter(pk__in=[b.pk for b in items]).update(assignee=assignee)
        for item in items:
            audit.record(action="break.assigned", actor=by, object_type="break",
                         object_id=item.pk, before={"assignee": item.assignee_id},
                         after={"assignee": assignee.pk if assignee else None})  # fmt: skip
    return len(items)


def read_targets(ids: list[str], assignee: str) -> tuple[list[int], int | None]:
    """The break ids and assignee id of a posted form; refused when one is not an id (it was
    dropped, and an assignee of "abc" unassigned the breaks)."""
    bad_ids = [text for text in ids if not is_id(text)]
    if bad_ids or (assignee and not is_id(assignee)):
        fields = {"ids": ["must be break ids"]} if bad_ids else {}
        if assignee and not is_id(assignee):
            fields["assignee"] = ["must be a user id (empty: nobody)"]
        raise BreakInputInvalid("Nothing was changed: the form held values that are not ids.",
                                 fields=fields)  # fmt: skip
    return [int(text) for text in ids], int(assignee) if assignee else None


def _no_nul(text: str, field: str) -> None:
    if "\x00" in text:  # PostgreSQL cannot store it
        raise BreakInputInvalid(f"The {field} holds a NUL character; remove it.",
                                 fields={field: ["must not contain a NUL character"]})  # fmt: skip


def comment(break_id: int, *, text: str, by) -> BreakComment:
    if not isinstance(text, str):
        raise BreakInputInvalid("A comment is text.", fields={"text": ["must be a string"]})
    text = text.strip()
    if not text:
        raise BreakInputInvalid("A comment cannot be empty.", fields={"text": ["is required"]})
    _no_nul(text, "text")
    if len(text) > MAX_COMMENT:
        raise BreakInputInvalid(
            f"A comment holds at most {MAX_COMMENT:,} characters.",
            fields={"text": [f"must be at most {MAX_COMMENT:,} characters"]},
        )
    with transaction.atomic():
        item = Break.objects.filter(pk=break_id).first()
        if item is None:
            raise BreakActionRefused(f"No break {break_id}.")
        note = BreakComment.objects.create(break_record=item, author=by, text=text)
        audit.record(action="break.commented", actor=by, object_type="break", object_id=item.pk,
                     after={"comment_id": note.pk, "text": text})  # fmt: skip
    return note


def apply(action: str, ids: list[int], *, by, reason: str = "", assignee_id: int | None = None):
    """Run one named action on breaks (the page's and the API's bulk door); returns the count."""
    if action == "investigate":
        return investigate(ids, by=by)
    if action == "accept":
        return accept(ids, reason=reason, by=by)
    if action == "assign":
        return assign(ids, assignee_id=assignee_id, by=by)
    if action == "reopen":
        return reopen(ids, by=by)
    raise BreakActionRefused("Choose an action: investigate, accept, assign or reopen.")
