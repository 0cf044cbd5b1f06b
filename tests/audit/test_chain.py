import hashlib
import json
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import chain, keys, services
from audit.models import GENESIS_HASH, AuditEvent
from audit.selectors import verify_chain
from tests.audit.tampering import tamper

pytestmark = pytest.mark.django_db


def write(count: int) -> list[AuditEvent]:
    return [
        services.record(action="test.event", object_type="thing", object_id=n, after={"n": n})
        for n in range(1, count + 1)
    ]


def test_entries_are_chained_from_the_genesis_hash():
    first, second, third = write(3)
    assert (first.sequence, second.sequence, third.sequence) == (1, 2, 3)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert verify_chain() == verify_chain([])
    report = verify_chain()
    assert report.ok and report.checked == 3 and report.head_hash == third.hash


def test_hash_follows_the_documented_canonical_serialisation():
    event = services.record(
        action="rule_set.published",
        object_type="rule_set",
        object_id=7,
        before=None,
        after={"tolerance": Decimal("0.001"), "name": "Défaut"},
    )
    event.refresh_from_db()
    document = {
        "action": "rule_set.published",
        "actor_id": None,
        "actor_label": "system",
        "after": {"name": "Défaut", "tolerance": "0.001"},
        "before": None,
        "created_at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "ip": None,
        "object_id": "7",
        "object_type": "rule_set",
        "prev_hash": GENESIS_HASH,
        "request_id": "",
        "sequence": 1,
        "user_agent": "",
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert event.hash == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert event.after == {"name": "Défaut", "tolerance": "0.001"}


def test_values_json_cannot_hold_are_refused():
    with pytest.raises(TypeError, match="cannot be written to the audit log"):
        services.record(action="x", after={"obj": object()})
    assert AuditEvent.objects.count() == 0


def test_an_entry_rolls_back_with_its_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        services.record(action="doomed")
        raise RuntimeError("the change failed")
    assert AuditEvent.objects.count() == 0
    assert services.record(action="next").sequence == 1


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'changed'",
        "DELETE FROM audit_auditevent",
    ],
)
def test_the_database_refuses_changes_to_the_log(sql):
    write(2)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL recondesk.allow_audit_truncate = off")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute(sql)
    assert list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True)) == [
        "test.event",
        "test.event",
    ]


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_truncate():
    write(2)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL recondesk.allow_audit_truncate = off")
        cursor.execute("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.count() == 2


def test_orm_update_is_refused_too():
    write(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.update(action="changed")


def test_edited_field_is_found_at_that_entry():
    write(5)
    tamper("UPDATE audit_auditevent SET after = '{\"n\": 99}' WHERE sequence = 3")
    report = verify_chain()
    assert not report.ok
    assert report.bad_sequence == 3
    assert "altered" in report.problem
    assert report.checked == 2


def test_deleted_entry_is_found_as_missing():
    write(5)
    tamper("DELETE FROM audit_auditevent WHERE sequence = 2")
    report = verify_chain()
    assert (report.ok, report.bad_sequence) == (False, 2)
    assert "entry 2 is missing" in report.problem


def test_forged_entry_appended_with_a_made_up_hash_is_found():
    events = write(3)
    tamper(
        "INSERT INTO audit_auditevent (sequence, created_at, actor_label, action, object_type,"
        " object_id, user_agent, request_id, prev_hash, hash)"
        " VALUES (4, now(), 'mallory', 'correction.approved', 'correction', '1', '', '', %s, %s)",
        [events[-1].hash, "f" * 64],
    )
    report = verify_chain()
    assert (report.ok, report.bad_sequence) == (False, 4)


def test_the_database_refuses_a_second_entry_after_the_same_predecessor():
    events = write(2)
    with pytest.raises(IntegrityError, match="prev_hash"), transaction.atomic():
        AuditEvent.objects.create(
            sequence=3,
            created_at=events[0].created_at,
            actor_label="mallory",
            action="fork",
            prev_hash=events[0].hash,
            hash="e" * 64,
        )


def test_forged_entry_inserted_mid_chain_with_a_correct_hash_is_found_at_once():
    write(4)
    tamper("ALTER TABLE audit_auditevent DROP CONSTRAINT audit_prev_hash_once")
    tamper("UPDATE audit_auditevent SET sequence = sequence + 100 WHERE sequence >= 3")
    tamper("UPDATE audit_auditevent SET sequence = sequence - 99 WHERE sequence >= 103")
    second = AuditEvent.objects.get(sequence=2)
    forged = {
        "sequence": 3,
        "prev_hash": second.hash,
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
    tamper(
        "INSERT INTO audit_auditevent (sequence, created_at, actor_label, action, object_type,"
        " object_id, user_agent, request_id, prev_hash, hash)"
        " VALUES (3, %s, 'mallory', 'correction.approved', 'correction', '1', '', '', %s, %s)",
        [forged["created_at"], second.hash, chain.entry_hash(forged)],
    )
    report = verify_chain()
    # Unsigned, it is refused itself (without signatures it was found only at the next link).
    assert (report.ok, report.bad_sequence) == (False, 3)
    assert "not signed" in report.problem
    assert report.checked == 2


def test_reordered_entries_are_found():
    write(4)
    tamper("UPDATE audit_auditevent SET sequence = sequence + 1000 WHERE sequence IN (2, 3)")
    tamper("UPDATE audit_auditevent SET sequence = 3 WHERE sequence = 1002")
    tamper("UPDATE audit_auditevent SET sequence = 2 WHERE sequence = 1003")
    report = verify_chain()
    assert (report.ok, report.bad_sequence) == (False, 2)


def test_truncated_tail_is_found_against_an_exported_head():
    write(5)
    services.export_head()
    tamper("DELETE FROM audit_auditevent WHERE sequence >= 4")
    report = verify_chain()
    assert (report.ok, report.bad_sequence) == (False, 4)
    assert "removed from the end" in report.problem


def test_rewritten_history_is_found_against_an_exported_head():
    """Even by someone who holds the signing key: the head exported before still differs."""
    write(3)
    services.export_head()
    head = AuditEvent.objects.get(sequence=3)
    fields = {name: getattr(head, name) for name in chain.HASHED_FIELDS}
    fields["action"] = "rewritten"
    rewritten_hash = chain.entry_hash(fields)
    _key_id, key = keys.signing_key()
    tamper(
        "UPDATE audit_auditevent SET action = 'rewritten', hash = %s, signature = %s"
        " WHERE sequence = 3",
        [rewritten_hash, chain.entry_signature(key, rewritten_hash)],
    )
    report = verify_chain()
    assert (report.ok, report.bad_sequence) == (False, 3)
    assert "exported" in report.problem


def test_export_head_appends_sequence_and_hash(settings):
    events = write(2)
    line = services.export_head()
    stored = settings.AUDIT_HEAD_EXPORT_PATH.read_text().splitlines()
    assert json.loads(stored[-1]) == line
    assert (line["sequence"], line["hash"]) == (2, events[-1].hash)
    assert (line["key_id"], line["signature"]) == (events[-1].key_id, events[-1].signature)
    _key_id, key = keys.signing_key()
    assert chain.signature_matches(key, line["hash"], line["signature"])


def test_verify_command_reports_ok_and_json(capsys):
    write(3)
    call_command("verify_audit_chain")
    assert capsys.readouterr().out.startswith("OK: 3 entries verified")
    call_command("verify_audit_chain", "--json")
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is True and body["head_sequence"] == 3


def test_verify_command_fails_on_a_broken_chain(capsys):
    write(3)
    tamper("UPDATE audit_auditevent SET object_id = '42' WHERE sequence = 2")
    with pytest.raises(CommandError, match="audit chain broken at entry 2"):
        call_command("verify_audit_chain", "--json")
    assert json.loads(capsys.readouterr().out)["bad_sequence"] == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_make_one_unbroken_chain():
    writers, per_writer = 8, 12
    barrier = threading.Barrier(writers)
    errors = []

    def work(number: int) -> None:
        try:
            barrier.wait()
            for n in range(per_writer):
                with transaction.atomic():
                    services.record(action="test.concurrent", object_id=f"{number}-{n}")
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = verify_chain()
    assert report.ok
    assert report.checked == writers * per_writer
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, writers * per_writer + 1))


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text()
        | st.decimals(allow_nan=False, allow_infinity=False),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(), children, max_size=4)
            | st.dictionaries(st.integers(), children, max_size=4)  # 10 sorts before 9 stored
        ),
        max_leaves=12,
    ),
    st.text() | st.integers(),  # an int key: stored (and hashed) as its string
    st.text(),
)
def test_a_batch_hash_of_pre_serialised_texts_is_the_entry_hash(value, key, action):
    from datetime import UTC, datetime

    shared = {"actor_id": 3, "actor_label": "risk-1 %s \"q\"",
              "created_at": datetime(2026, 12, 3, 6, 30, 0, 123456, tzinfo=UTC),
              "ip": "127.0.0.1", "request_id": "", "user_agent": "é %(x)s"}  # fmt: skip
    varying = {"action": action, "object_id": "7", "object_type": "correction",
               "prev_hash": "0" * 64, "sequence": 9}  # fmt: skip
    before = {key: value}
    digest = chain.BatchHasher(shared).hash(
        **varying, after=chain.stored_json(value), before=chain.stored_json(before)
    )
    assert digest == chain.entry_hash(
        {
            **shared,
            **varying,
            "after": chain.to_json_value(value),
            "before": chain.to_json_value(before),
        }
    )


@pytest.mark.django_db
def test_a_large_batch_with_awkward_texts_is_stored_as_given_and_verifies():
    # More entries than one COPY batch (the rows stream in batches from a writer thread), and
    # texts COPY must escape: tab, newline, carriage return, backslash, quotes, non-ASCII.
    awkward = ["tab\there", "line\nbreak", "cr\rhere", "back\\slash", 'q"uote', "é ü 日本", "\\N"]
    entries = [
        services.Entry("correction.proposed", "correction", n, None if n % 3 else {"n": n},
                       {"note": awkward[n % len(awkward)], "ok": n % 2 == 0,
                        "amount": Decimal(f"{n}.000000000000000001"),
                        "by_id": {n: "int key", n + 10: None}})
        for n in range(6001)
    ]  # fmt: skip
    services.record_many(entries, actor=None)

    stored = list(AuditEvent.objects.order_by("sequence").values_list("before", "after"))
    assert stored == [
        (chain.to_json_value(e.before), chain.to_json_value(e.after)) for e in entries
    ]
    assert stored[1][1]["amount"] == "1.000000000000000001"
    report = verify_chain()
    assert report.ok and report.checked == 6001
