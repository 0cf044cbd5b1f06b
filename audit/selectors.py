"""Reading the audit log: listing entries and verifying the hash chain."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from audit import chain, keys
from audit.models import GENESIS_HASH, AuditEvent
from config.query import check_filters


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    head_sequence: int
    head_hash: str
    bad_sequence: int | None = None
    problem: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def events(*, action: str = "", actor: str = "", object_type: str = "", object_id: str = ""):
    """Audit entries, newest first, filtered by exact action/object and actor name."""
    check_filters(action=action, actor=actor, object_type=object_type, object_id=object_id)
    queryset: QuerySet[AuditEvent] = AuditEvent.objects.order_by("-sequence")
    if action:
        queryset = queryset.filter(action=action)
    if actor:
        queryset = queryset.filter(actor_label=actor)
    if object_type:
        queryset = queryset.filter(object_type=object_type)
    if object_id:
        queryset = queryset.filter(object_id=object_id)
    return queryset


def exported_heads(path: Path | None = None) -> list[dict]:
    """The heads exported by `audit.services.export_head`, oldest first ([] if none yet)."""
    target = Path(path or settings.AUDIT_HEAD_EXPORT_PATH)
    if not target.exists():
        return []
    lines = target.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _entry_fields(event: AuditEvent) -> dict:
    fields = {name: getattr(event, name) for name in chain.HASHED_FIELDS}
    fields["ip"] = event.ip or None
    return fields


def _check_signature(event: AuditEvent, known_keys: dict[str, bytes], unsigned_until: int) -> str:
    """What is wrong with this entry's signature, or '' if a configured key made it."""
    if not event.signature:
        if event.sequence <= unsigned_until:
            return ""  # written before this installation signed its log (AUDIT_UNSIGNED_UNTIL)
        return (
            f"entry {event.sequence} is not signed: the application did not write it, unless "
            "before this installation signed its log (then declare those entries with "
            "AUDIT_UNSIGNED_UNTIL)"
        )
    key = known_keys.get(event.key_id)
    if key is None:
        return (
            f"entry {event.sequence} is signed with key {event.key_id or '(none)'}, which is "
            "neither AUDIT_HMAC_KEY nor in AUDIT_HMAC_KEYS: it cannot be verified"
        )
    if not chain.signature_matches(key, event.hash, event.signature):
        return f"entry {event.sequence} has a wrong signature: the application did not write it"
    return ""


def _check_entry(event: AuditEvent, expected_sequence: int, expected_prev: str) -> str:
    """What is wrong with this entry's place and content, or '' if it links and hashes right."""
    if event.sequence != expected_sequence:
        return f"entry {expected_sequence} is missing (next stored entry is {event.sequence})"
    if event.prev_hash != expected_prev:
        return (
            f"entry {event.sequence} does not link to entry {expected_sequence - 1}: "
            "its previous hash differs"
        )
    if chain.entry_hash(_entry_fields(event)) != event.hash:
        return f"entry {event.sequence} was altered: its content does not match its hash"
    return ""


def verify_chain(heads: list[dict] | None = None) -> ChainReport:
    """Check every link and signature from the first entry; report the first bad one.

    `heads` (default: the exported heads file) are (sequence, hash) pairs kept outside the
    database; each must still be in the chain, which catches a truncated or rewritten log.
    """
    heads = exported_heads() if heads is None else heads
    by_sequence = {int(head["sequence"]): head["hash"] for head in heads if head["sequence"]}
    known_keys, unsigned_until = keys.verification_keys(), settings.AUDIT_UNSIGNED_UNTIL
    expected_sequence, expected_prev, checked = 1, GENESIS_HASH, 0
    for event in AuditEvent.objects.order_by("sequence").iterator(chunk_size=2000):
        problem = _check_entry(event, expected_sequence, expected_prev) or _check_signature(
            event, known_keys, unsigned_until
        )
        if not problem and by_sequence.get(event.sequence, event.hash) != event.hash:
            problem = f"entry {event.sequence} differs from the head exported for it"
        if problem:
            bad = min(event.sequence, expected_sequence)
            return ChainReport(False, checked, bad - 1, expected_prev, bad, problem)
        checked += 1
        expected_sequence, expected_prev = event.sequence + 1, event.hash
    missing = [seq for seq in sorted(by_sequence) if seq >= expected_sequence]
    if missing:
        return ChainReport(
            False,
            checked,
            expected_sequence - 1,
            expected_prev,
            expected_sequence,
            f"the log ends at entry {expected_sequence - 1} but entry {missing[0]} "
            "was exported as a head: entries were removed from the end",
        )
    return ChainReport(True, checked, expected_sequence - 1, expected_prev)


def chain_head() -> tuple[int, str]:
    """The chain's head now: (sequence, hash); (0, "") while the log is empty. Every write the
    product makes is recorded in the same transaction, so the head names the state it reached."""
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    return head or (0, "")
