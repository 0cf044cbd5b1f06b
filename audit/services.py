"""Writing the audit log: one locked path, inside the caller's transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit import chain, context, keys
from audit.models import GENESIS_HASH, AuditEvent
from config import copy_insert

# Key of the transaction-level advisory lock that serialises writers, so the chain never forks.
CHAIN_LOCK_KEY = 0x5245434F4E  # "RECON"


def acting_user(actor):
    """Who to store as having done something: a signed-in user, else None (system, anonymous).

    An AnonymousUser is truthy but is no row a foreign key can point at.
    """
    return actor if getattr(actor, "is_authenticated", False) else None


def _actor_fields(actor) -> tuple[int | None, str]:
    if acting_user(actor) is None:
        return None, "system" if actor is None else "anonymous"
    return actor.pk, actor.get_username()


def record(
    *,
    action: str,
    actor=None,
    object_type: str = "",
    object_id: str | int = "",
    before=None,
    after=None,
    request_context: context.RequestContext | None = None,
) -> AuditEvent:
    """Append one entry to the audit log, in the caller's transaction (or a new one).

    Writers queue on an advisory lock held until their transaction ends, so each entry links to
    the one committed just before it. If the caller's transaction rolls back, so does the entry.
    """
    entry = Entry(action, object_type, object_id, before, after)
    with transaction.atomic():
        sequence = record_many([entry], actor=actor, request_context=request_context)
        return AuditEvent.objects.get(sequence=sequence)


@dataclass(frozen=True)
class Entry:
    """One entry for `record_many`: what was done to which object, before and after."""

    action: str
    object_type: str = ""
    object_id: str | int = ""
    before: object = None
    after: object = None


# The columns COPY writes: those an actor's batch shares first, rendered once for it.
_SHARED = ("created_at", "actor_id", "actor_label", "ip", "user_agent", "request_id", "key_id")
_VARYING = ("sequence", "action", "object_type", "object_id", "before", "after", "prev_hash",
            "hash", "signature")  # fmt: skip


def record_many(
    entries, *, actor=None, request_context: context.RequestContext | None = None
) -> int:
    """Append `entries` in order, one chained and signed entry each, by one actor, at once
    (a run's hundred thousand corrections are one COPY, not a hundred thousand INSERTs);
    returns the last entry's sequence number (0: nothing written)."""
    entries = list(entries)
    if not entries:
        return 0  # nothing to chain: the chain's lock is not taken
    with transaction.atomic():
        appending = Appending(actor=actor, request_context=request_context)
        appending.add(entries)
        return appending.write()


class Appending:
    """One actor's entries being appended, inside the caller's transaction: the chain's lock is
    taken and its head read when this is made; `add` chains and renders entries as they come
    (no query: a run's are rendered while the server stores its corrections); `flush` stores
    those added so far (a run's, part by part: `copy_insert.pipelined`); `write` stores the
    rest, once, and closes it."""

    def __init__(self, *, actor=None, request_context: context.RequestContext | None = None):
        if not connection.in_atomic_block:
            raise RuntimeError("append to the audit log inside the transaction it records")
        origin = request_context or context.current.get()
        actor_id, actor_label = _actor_fields(actor)
        key_id, self._key = keys.signing_key()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        last = AuditEvent.objects.order_by("-sequence").values("sequence", "hash").first()
        self.sequence, self._previous = (
            (last["sequence"], last["hash"]) if last else (0, GENESIS_HASH)
        )
        shared = {"created_at": timezone.now(), "actor_id": actor_id, "actor_label": actor_label,
                  "ip": origin.ip, "user_agent": origin.user_agent,
                  "request_id": origin.request_id}  # fmt: skip
        self._hasher = chain.BatchHasher(shared)
        shared["key_id"] = key_id
        self._prefix = "\t".join(copy_insert.text(shared[name]) for name in _SHARED)
        self._lines: list[str] | None = []

    def add(self, entries) -> None:
        escaped, null, lines = copy_insert.escaped, copy_insert.NULL, self._lines
        hasher, key, prefix = self._hasher, self._key, self._prefix
        sequence, previous = self.sequence, self._previous
        for entry in entries:
            sequence += 1
            # Serialised once, in the form the database gives back (keys as strings), so the
            # stored text is the hashed text.
            before, after = _stored(entry.before), _stored(entry.after)
            object_id = str(entry.object_id)
            digest = hasher.hash(
                action=entry.action, after=after, before=before, object_id=object_id,
                object_type=entry.object_type, prev_hash=previous, sequence=sequence,
            )  # fmt: skip
            # One COPY line per entry, written here: the columns are known, and the shared
            # ones are the batch's prefix (a row object per entry cost more than its hash).
            lines.append(
                f"{prefix}\t{sequence}\t{escaped(entry.action)}\t"
                f"{escaped(entry.object_type)}\t{escaped(object_id)}\t"
                f"{null if entry.before is None else escaped(before)}\t"
                f"{null if entry.after is None else escaped(after)}\t"
                f"{previous}\t{digest}\t{chain.entry_signature(key, digest)}\n"
            )  # fmt: skip
            previous = digest
        self.sequence, self._previous = sequence, previous

    def flush(self) -> None:
        """Store the entries added so far (the chain goes on with the next `add`)."""
        if self._lines is None:
            raise RuntimeError("these entries are written already")
        if self._lines:
            copy_insert.copy_lines(AuditEvent, _SHARED + _VARYING, self._lines)
            self._lines = []

    def write(self) -> int:
        """Store the entries added; the last one's sequence number."""
        self.flush()
        self._lines = None
        return self.sequence


def _stored(value) -> str:
    # A JsonText is canonical plain JSON already (see corrections' `state_json`).
    return value if type(value) is copy_insert.JsonText else chain.stored_json(value)


def export_head(path: Path | None = None) -> dict:
    """Append the chain's head (sequence, hash, signature) to a file outside the database.

    The chain shows tampering only up to the last head kept elsewhere: a rewritten or truncated
    log verifies on its own, but not against a head exported before the rewrite. The head's
    signature lets whoever holds the key check the exported line on its own, too.
    """
    head = (
        AuditEvent.objects.order_by("-sequence")
        .values("sequence", "hash", "key_id", "signature")
        .first()
    )
    line = {
        "sequence": head["sequence"] if head else 0,
        "hash": head["hash"] if head else GENESIS_HASH,
        "key_id": head["key_id"] if head else "",
        "signature": head["signature"] if head else "",
        "exported_at": chain.format_time(timezone.now()),
    }
    target = Path(path or settings.AUDIT_HEAD_EXPORT_PATH)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")
    return line
