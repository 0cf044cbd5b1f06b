"""COPYs sent in a pipeline (`copy_insert.pipelined`): stored in order by another thread while
the caller goes on, seen by the caller's next query, a failure raised by it; foreign keys to
tables a block does not write checked at each statement."""

import sys
from types import SimpleNamespace

import psycopg
import pytest
from django.db import IntegrityError, transaction

from config import copy_insert
from reconciliation.models import Account, Source

pytestmark = pytest.mark.django_db


def _sources(prefix: str, count: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(code=f"{prefix}-{n}", name=f"{prefix} {n}", kind="exchange")
            for n in range(count)]  # fmt: skip


def test_copies_are_stored_in_order_and_the_next_query_sees_them():
    first, second = _sources("pipe-a", 3), _sources("pipe-b", copy_insert.BATCH_ROWS + 2)
    with transaction.atomic(), copy_insert.pipelined():
        copy_insert.insert_rows(Source, first)  # ids drawn on a second connection
        copy_insert.insert_rows(Source, second)
        stored = dict(Source.objects.filter(code__startswith="pipe-").values_list("code", "pk"))
    assert stored == {row.code: row.pk for row in first + second}
    assert max(r.pk for r in first) < min(r.pk for r in second)


def test_a_failed_copy_is_raised_by_the_next_query_and_nothing_is_kept():
    before, reached = Source.objects.count(), []
    failed = pytest.raises(psycopg.errors.UniqueViolation)
    with failed, transaction.atomic(), copy_insert.pipelined():
        copy_insert.insert_rows(Source, _sources("twice", 2))
        copy_insert.insert_rows(Source, _sources("twice", 1))  # the same code again
        copy_insert.insert_rows(Source, _sources("after", 1))
        Source.objects.count()
        reached.append("the query ran")
    assert not reached
    assert Source.objects.count() == before


def test_a_failure_of_the_block_itself_sends_nothing_more_and_restores_the_interval():
    interval = sys.getswitchinterval()
    with pytest.raises(ValueError), transaction.atomic(), copy_insert.pipelined():
        assert sys.getswitchinterval() < interval  # the sending thread gets its turn soon
        copy_insert.insert_rows(Source, _sources("lost", 2))
        raise ValueError("the caller failed")
    assert sys.getswitchinterval() == interval
    assert not Source.objects.filter(code__startswith="lost-").exists()


@pytest.mark.django_db(transaction=True)
def test_a_pipeline_is_refused_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"), copy_insert.pipelined():
        pass


def test_foreign_keys_to_tables_not_written_are_checked_at_each_statement():
    orphan = [SimpleNamespace(source_id=2**40, code="orphan", name="")]
    with transaction.atomic():  # deferred, as Django declares them: no error yet
        copy_insert.insert_rows(Account, list(orphan))
        transaction.set_rollback(True)
    refused = pytest.raises(IntegrityError, match="source")
    with refused, transaction.atomic(), copy_insert.ForeignKeysCheckedNow([Account]):
        Account.objects.bulk_create([Account(source_id=2**40, code="orphan")])
    with transaction.atomic():  # and deferred again after the block
        with copy_insert.ForeignKeysCheckedNow([Account]):
            pass
        copy_insert.insert_rows(Account, list(orphan))
        transaction.set_rollback(True)


def test_foreign_keys_between_tables_written_wait_until_the_rest_is_checked_too():
    source = SimpleNamespace(code="later", name="later", kind="exchange")
    copy_insert.reserve_ids(Source, [source])
    with transaction.atomic(), copy_insert.ForeignKeysCheckedNow([Account, Source]) as keys:
        # The account first, its source after: fine while deferred.
        Account.objects.bulk_create([Account(source_id=source.pk, code="main")])
        copy_insert.insert_rows(Source, [source], ids_reserved=True)
        keys.check_the_rest_now()  # (the account's pending check passes now)
        refused = pytest.raises(IntegrityError, match="source")
        with refused, transaction.atomic():
            Account.objects.bulk_create([Account(source_id=2**40, code="orphan")])
    assert Account.objects.get(code="main").source.code == "later"
    assert not Account.objects.filter(code="orphan").exists()


def test_the_rest_is_checked_in_its_turn_in_a_pipeline():
    sources, reached = _sources("turn", 2), []
    keys = copy_insert.ForeignKeysCheckedNow([Account, Source])
    # The orphan's check fails (not the accounts' before it, whose sources are there).
    refused = pytest.raises(psycopg.errors.ForeignKeyViolation, match=str(2**40))
    with refused, transaction.atomic(), keys, copy_insert.pipelined():
        copy_insert.insert_rows(Source, sources)
        accounts = [SimpleNamespace(source_id=row.pk, code="main", name="") for row in sources]
        copy_insert.insert_rows(Account, accounts)  # their sources are queued before them
        keys.check_the_rest_now()
        copy_insert.insert_rows(Account, [SimpleNamespace(source_id=2**40, code="x", name="")])
        Account.objects.count()  # raises what failed
        reached.append("the query ran")
    assert not reached


def test_overlapping_pipelines_restore_the_interval_when_the_last_one_ends():
    before = sys.getswitchinterval()
    first, second = copy_insert._quick_switching(), copy_insert._quick_switching()
    first.__enter__()
    second.__enter__()  # another thread's pipeline, say
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() < before  # the second one still runs
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before


def test_the_copys_failure_is_the_cause_raised_whatever_the_caller_hit_after_it():
    failed = pytest.raises(psycopg.errors.UniqueViolation)
    with failed as raised, transaction.atomic(), copy_insert.pipelined() as pipeline:
        copy_insert.insert_rows(Source, _sources("cause", 1))
        copy_insert.insert_rows(Source, _sources("cause", 1))  # refused
        pipeline._jobs.join()  # (the refusal has happened: nothing of the caller's saw it)
        raise ValueError("what the lost transaction refused next")
    assert isinstance(raised.value.__cause__, ValueError)


def test_settling_raises_the_failure_before_the_connection_is_used_directly():
    failed, reached = pytest.raises(psycopg.errors.UniqueViolation), []
    with failed, transaction.atomic(), copy_insert.pipelined():
        copy_insert.insert_rows(Source, _sources("settle", 1))
        copy_insert.insert_rows(Source, _sources("settle", 1))
        copy_insert.settle()  # as psycopg's own COPY and binary cursors do first
        reached.append("went on past a failed COPY")
    assert not reached
