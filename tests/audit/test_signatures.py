"""Audit entries are signed with an HMAC under a key the database does not hold.

A database superuser can switch the append-only trigger off and append an entry that links and
hashes correctly (the chain's rules are public, in audit/chain.py): only the signature, which
needs the key from the application's environment, tells that entry from a real one.
"""

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from django.db import connection

from audit import chain, services
from audit.models import GENESIS_HASH, AuditEvent
from audit.selectors import verify_chain

pytestmark = pytest.mark.django_db


def write(count: int) -> list[AuditEvent]:
    return [services.record(action="test.event", object_id=n) for n in range(1, count + 1)]


def forged_fields(last: AuditEvent) -> dict:
    """The next entry after `last`, as the application would write it (hash and all)."""
    return {
        "sequence": last.sequence + 1,
        "prev_hash": last.hash,
        "created_at": datetime.now(UTC),
        "actor_id": None,
        "actor_label": "mallory",
        "action": "correction.approved",
        "object_type": "correction",
        "object_id": "1",
        "before": None,
        "after": None,
        "ip": None,
        "user_agent": "",
        "request_id": "",
    }


def append_as_superuser(fields: dict, extra_columns: dict | None = None) -> None:
    """Append a row the way a database superuser could: triggers off for this session."""
    columns = {
        "sequence": fields["sequence"],
        "created_at": fields["created_at"],
        "actor_label": fields["actor_label"],
        "action": fields["action"],
        "object_type": fields["object_type"],
        "object_id": fields["object_id"],
        "user_agent": fields["user_agent"],
        "request_id": fields["request_id"],
        "prev_hash": fields["prev_hash"],
        "hash": chain.entry_hash(fields),
        **(extra_columns or {}),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (True,), "the test database's user must be a superuser"
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            f"INSERT INTO audit_auditevent ({', '.join(columns)})"  # noqa: S608 (fixed names)
            f" VALUES ({', '.join(['%s'] * len(columns))})",
            list(columns.values()),
        )
        cursor.execute("SET LOCAL session_replication_role = origin")


def test_a_correctly_chained_unsigned_entry_appended_by_a_superuser_fails_verification():
    events = write(3)
    assert verify_chain().ok
    append_as_superuser(forged_fields(events[-1]))
    assert AuditEvent.objects.count() == 4
    report = verify_chain()
    assert not report.ok
    assert report.bad_sequence == 4
    assert report.checked == 3
    assert "entry 4" in report.problem and "not signed" in report.problem


def test_a_correctly_chained_entry_signed_with_another_key_fails_verification(settings):
    events = write(2)
    wrong_key = b"a key the application does not have, 32+ bytes long"
    fields = forged_fields(events[-1])
    forged_hash = chain.entry_hash(fields)
    append_as_superuser(
        fields,
        {"key_id": events[-1].key_id, "signature": chain.entry_signature(wrong_key, forged_hash)},
    )
    report = verify_chain()
    assert (report.ok, report.bad_sequence, report.checked) == (False, 3, 2)
    assert report.problem == "entry 3 has a wrong signature: the application did not write it"


def test_each_entry_is_signed_as_documented(settings):
    settings.AUDIT_HMAC_KEY = "k" * 40
    event = services.record(action="test.event")
    event.refresh_from_db()
    key = ("k" * 40).encode()
    expected_id = hmac.new(key, b"recondesk audit key id", hashlib.sha256).hexdigest()[:16]
    assert event.key_id == expected_id
    assert event.signature == hmac.new(key, event.hash.encode(), hashlib.sha256).hexdigest()


def test_after_a_key_rotation_old_entries_verify_with_the_old_key_kept(settings):
    settings.AUDIT_HMAC_KEY = "old-" + "o" * 40
    write(2)
    settings.AUDIT_HMAC_KEY, settings.AUDIT_HMAC_KEYS = "new-" + "n" * 40, ["old-" + "o" * 40]
    write(2)
    assert len(set(AuditEvent.objects.values_list("key_id", flat=True))) == 2
    assert verify_chain().ok
    settings.AUDIT_HMAC_KEYS = []  # the old key dropped: its entries can no longer be verified
    report = verify_chain()
    assert (report.ok, report.bad_sequence) == (False, 1)
    assert "neither AUDIT_HMAC_KEY nor in AUDIT_HMAC_KEYS" in report.problem


def legacy_entries(count: int) -> None:
    """Entries as an installation wrote them before it signed its log (no key id, no signature)."""
    previous_hash = GENESIS_HASH
    for sequence in range(1, count + 1):
        fields = forged_fields(AuditEvent(sequence=sequence - 1, hash=previous_hash))
        fields["actor_label"], fields["action"] = "system", "legacy.event"
        append_as_superuser(fields)
        previous_hash = chain.entry_hash(fields)


def test_entries_from_before_signing_are_accepted_only_up_to_the_declared_sequence(settings):
    legacy_entries(2)
    write(2)  # signed, the first linked to the last unsigned one
    report = verify_chain()
    assert (report.ok, report.bad_sequence) == (False, 1)
    settings.AUDIT_UNSIGNED_UNTIL = 2
    assert verify_chain().ok
    append_as_superuser(forged_fields(AuditEvent.objects.get(sequence=4)))
    report = verify_chain()
    assert (report.ok, report.bad_sequence) == (False, 5)
    assert "not signed" in report.problem


def test_the_command_the_page_and_the_api_name_the_forged_entry(client_as):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    events = write(2)
    append_as_superuser(forged_fields(events[-1]))
    with pytest.raises(CommandError, match="audit chain broken at entry 3: entry 3 is not signed"):
        call_command("verify_audit_chain")
    admin = client_as("admin")
    page = admin.get("/audit/verify/")
    assert page.status_code == 409
    assert "entry 3 is not signed" in page.content.decode()
    body = admin.get("/api/audit/verify/").json()
    assert (body["ok"], body["bad_sequence"]) == (False, 3)
