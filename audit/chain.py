"""The canonical serialisation of an audit entry and its hash (no Django: pure functions).

An entry's hash is SHA-256 over the UTF-8 bytes of this JSON object:

    {"action", "actor_id", "actor_label", "after", "before", "created_at", "ip",
     "object_id", "object_type", "prev_hash", "request_id", "sequence", "user_agent"}

written with keys sorted at every level, no whitespace (separators "," and ":"), non-ASCII kept
as UTF-8, `created_at` as ISO 8601 in UTC with microseconds (`2026-11-24T06:30:00.123456+00:00`),
absent values as null. Decimals, datetimes and UUIDs inside before/after are stored as strings,
so the stored JSON is exactly the hashed JSON. The first entry's prev_hash is 64 zeros.

The chain's rules are public, so anyone able to write the table (a database superuser can switch
the append-only trigger off) could append a correctly chained entry. Each entry is therefore also
signed: `signature` is HMAC-SHA256, keyed with a secret from the application's environment that
the database never holds, over the ASCII bytes of the entry's hex hash (the hash covers every
field and the link, so signing it signs them all). `key_id` names the key that signed it: the
first 16 hex digits of HMAC-SHA256(key, "recondesk audit key id"), which tells keys apart
without revealing them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring

HASHED_FIELDS = (
    "action",
    "actor_id",
    "actor_label",
    "after",
    "before",
    "created_at",
    "ip",
    "object_id",
    "object_type",
    "prev_hash",
    "request_id",
    "sequence",
    "user_agent",
)


def _default(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} cannot be written to the audit log")


# One encoder for every entry: json.dumps with these options builds a new one per call (the
# audit of a run's hundred thousand corrections calls it millions of times); same bytes.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
)


# The C encoder those options make, made once: `JSONEncoder.encode` builds a new one per call.
# No circular check (markers None): an audited value is a tree; a cycle fails on recursion.
_C_ENCODE = (
    c_make_encoder(None, _default, encode_basestring, None, ":", ",", True, False, True)
    if c_make_encoder is not None
    else None
)


def canonical_json(value) -> str:
    if _C_ENCODE is None:
        return _ENCODER.encode(value)
    if isinstance(value, str):
        return encode_basestring(value)
    return "".join(_C_ENCODE(value, 0))


def scalar_json(value) -> str:
    """`canonical_json` of a string, decimal, number, bool or None, without the encoder's call
    per value (a run's audit writes millions); anything else goes to `canonical_json`."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is Decimal:
        # A decimal's text is digits, a sign, a point or an exponent: nothing to escape.
        return '"' + str(value) + '"'
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    return canonical_json(value)


def to_json_value(value):
    """The plain-JSON form of `value` (what the database will store and give back)."""
    return None if value is None else json.loads(canonical_json(value))


def stored_json(value) -> str:
    """`canonical_json(to_json_value(value))`, in one pass where that is the same text.

    Going through plain JSON only changes the text when a mapping has keys other than strings
    (an int key becomes a string, and sorts as one); everything else (decimals, times, tuples,
    sets) already serialises as its plain form does.
    """
    if value is None:
        return "null"
    if _string_keys_only(value):
        return canonical_json(value)
    return canonical_json(json.loads(canonical_json(value)))


def _string_keys_only(value) -> bool:
    # A loop, not all() over generators: it runs for every audit entry.
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            if isinstance(item, _CONTAINERS) and not _string_keys_only(item):
                return False
        return True
    if type(value) in _CONTAINERS:
        for item in value:
            if isinstance(item, _CONTAINERS) and not _string_keys_only(item):
                return False
        return True
    # Anything else (a dict subclass, a str subclass key...) takes the plain-JSON way.
    return not isinstance(value, dict | list | tuple)


_CONTAINERS = (dict, list, tuple)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(fields: dict) -> str:
    """SHA-256 (hex) of the canonical serialisation of an entry's hashed fields."""
    document = {name: fields.get(name) for name in HASHED_FIELDS}
    document["created_at"] = format_time(document["created_at"])
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


# The members that differ between the entries of one batch (one actor, time and request).
_VARYING = ("action", "after", "before", "object_id", "object_type", "prev_hash", "sequence")


class BatchHasher:
    """`entry_hash` of entries that share the actor, time and request (one `record_many`),
    the same bytes: the document is a flat object, so its canonical form is its members' texts
    in key order, and the shared ones are serialised once for the whole batch.

    `before` and `after` are given as their canonical JSON already (`stored_json`): serialised
    once, for the hash and for storing.
    """

    def __init__(self, shared: dict):
        pieces, text = [], "{"
        for position, name in enumerate(sorted(HASHED_FIELDS)):
            text += ("," if position else "") + canonical_json(name) + ":"
            if name in _VARYING:
                pieces.append(text)
                text = ""
            elif name == "created_at":
                text += canonical_json(format_time(shared[name]))
            else:
                text += canonical_json(shared.get(name))
        pieces.append(text + "}")
        # One %-template: filling it is a single C call per entry.
        self._template = "%s".join(piece.replace("%", "%%") for piece in pieces)

    def hash(self, *, action, after: str, before: str, object_id, object_type, prev_hash,
             sequence) -> str:  # fmt: skip
        document = self._template % (
            _text(action), after, before, _text(object_id), _text(object_type),
            _text(prev_hash), canonical_json(sequence),
        )  # fmt: skip
        return hashlib.sha256(document.encode("utf-8")).hexdigest()


def _text(value) -> str:
    # The encoder's own string writer (ensure_ascii=False): the bytes canonical_json gives.
    return encode_basestring(value) if type(value) is str else canonical_json(value)


def key_id(key: bytes) -> str:
    """The public name of a signing key (stored with each entry it signs)."""
    return hmac.new(key, b"recondesk audit key id", hashlib.sha256).hexdigest()[:16]


def entry_signature(key: bytes, hash_hex: str) -> str:
    """HMAC-SHA256 (hex) of an entry's hash under `key`."""
    return hmac.digest(key, hash_hex.encode("ascii"), "sha256").hex()


def signature_matches(key: bytes, hash_hex: str, signature: str) -> bool:
    return hmac.compare_digest(entry_signature(key, hash_hex), signature)
