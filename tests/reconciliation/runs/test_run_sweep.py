"""The sweep's guards: runs and parts go to another worker only when their worker is silent,
once, under the delivery counter; a delivery taken over stores and ends nothing.

Workers are played here by claims made under an instance id (as a worker process makes them)
and by heartbeats written to the real Redis; tests/reconciliation/runs/test_run_worker_killed.py
does it with real worker processes killed whole.
"""

import threading
import time
import uuid

import pytest
import redis
from django.conf import settings
from django.db import connections

from config import claim_sweep, health
from reconciliation.demo import data as demo_data
from reconciliation.engine import rule_definition
from reconciliation.engine.types import RunSuperseded
from reconciliation.models import BreakObservation, Dataset, Run, RunPartition
from reconciliation.runs import engine_adapter as run_engine
from reconciliation.runs import execution as run_execution
from reconciliation.runs import inputs as run_inputs
from reconciliation.runs import partitions
from reconciliation.runs import services as runs
from reconciliation.runs import sweep as run_sweep
from tests.reconciliation.sweeping import as_worker, beat
from tests.worker import sending_to

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}


@pytest.fixture
def queue():
    """A private queue the tasks sent go to; its length is what was sent."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    with sending_to(name):
        yield lambda: client.llen(name)
    client.delete(name)


def start(demo, type_="position"):
    internal, external = {
        "position": ("book balances", "kraken ledgers"),
        "trades": ("book trades", "kraken trades"),
    }[type_]
    return runs.start_run(
        type=type_, internal=demo[internal], external=demo[external], prices=demo["prices"]
    )


def claimed_by(monkeypatch, run, instance, hostname="w@host", silent_for=0.0):
    """`run` claimed by a worker whose last heartbeat was `silent_for` seconds ago."""
    as_worker(monkeypatch, instance)
    claimed = run_execution._claim_run(run.pk, hostname)
    beat(instance, silent_for, hostname)
    monkeypatch.delenv(health.INSTANCE_ENV)
    return claimed


def observed(run):
    rows = BreakObservation.objects.filter(run=run).values_list(
        "break_record__break_key", "internal_value", "external_value", "severity"
    )
    return sorted(rows)


def result_of(run):
    definition = rule_definition.validate(run.rule_set_version.definition)
    return run_engine.reconcile(run, run_inputs.load_inputs(run), definition)


def test_a_run_whose_worker_sends_heartbeats_is_left_alone(
    demo, monkeypatch, settings, queue, django_capture_on_commit_callbacks
):
    settings.WORKER_STALE_AFTER = 5
    alive, silent = start(demo), start(demo)
    claimed_by(monkeypatch, alive, "alive", "alive@host", silent_for=1)
    claimed_by(monkeypatch, silent, "silent", "silent@host", silent_for=30)
    with django_capture_on_commit_callbacks(execute=True):
        handed = claim_sweep.sweep()
    assert [(h.kind, h.pk, h.worker) for h in handed] == [("runs", silent.pk, "silent@host")]
    assert Run.objects.values("status", "worker", "worker_instance", "deliveries").get(
        pk=alive.pk
    ) == {"status": "running", "worker": "alive@host", "worker_instance": "alive", "deliveries": 1}
    silent.refresh_from_db()
    assert (silent.status, silent.worker, silent.phase) == ("running", "", run_sweep.WAITING)
    assert queue() == 1  # the silent run's task, sent again; nothing for the live one


def test_a_worker_restarted_under_the_same_name_does_not_keep_its_predecessors_run(
    demo, monkeypatch, settings, queue, django_capture_on_commit_callbacks
):
    """A container restarted in place keeps its hostname: heartbeats count by process."""
    settings.WORKER_STALE_AFTER = 5
    run = start(demo)
    claimed_by(monkeypatch, run, "before-restart", "celery@box", silent_for=30)
    beat("after-restart", 0, "celery@box")  # the same name beats again, from a new process
    with django_capture_on_commit_callbacks(execute=True):
        assert [h.pk for h in claim_sweep.sweep()] == [run.pk]
    assert queue() == 1


def test_a_handed_back_run_is_finished_by_the_next_delivery_as_if_undisturbed(
    demo, monkeypatch, settings, queue, django_capture_on_commit_callbacks
):
    settings.WORKER_STALE_AFTER = 5
    undisturbed = start(demo)
    assert run_execution.execute_run(undisturbed.pk) == "succeeded"
    run = start(demo)
    claimed_by(monkeypatch, run, "dead", silent_for=60)
    with django_capture_on_commit_callbacks(execute=True):
        claim_sweep.sweep()
    assert queue() == 1
    assert (
        run_execution.execute_run(run.pk, worker="next@host") == "succeeded"
    )  # the task sent again
    run.refresh_from_db()
    undisturbed.refresh_from_db()
    assert run.deliveries == 2 and run.worker == ""
    assert run.break_count == undisturbed.break_count > 0
    assert run.by_severity == undisturbed.by_severity
    assert observed(run) == observed(undisturbed)


@pytest.mark.django_db(transaction=True)
def test_a_run_handed_back_by_two_sweeps_at_once_is_sent_once(demo, monkeypatch, settings, queue):
    """Both sweeps read the run as held by the silent worker; one guarded update wins."""
    settings.WORKER_STALE_AFTER = 5
    run = start(demo)
    sent = queue()  # the run's first task (sent at once: no test transaction to wait for)
    claimed_by(monkeypatch, run, "dead", silent_for=60)
    (row,) = run_sweep.RUNS.rows().values(
        "pk", "worker", "worker_instance", "deliveries", "merges", "partition_count"
    )
    together = threading.Barrier(2)
    won = []

    def sweeper():
        try:
            together.wait()
            won.append(claim_sweep._hand_back(run_sweep.RUNS, row))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False, True]
    assert queue() == sent + 1
    assert claim_sweep.sweep() == []  # and a later sweep finds nobody to hand back
    assert queue() == sent + 1


def test_a_claim_made_after_the_sweep_read_the_run_is_not_handed_back(
    demo, monkeypatch, settings, queue
):
    settings.WORKER_STALE_AFTER = 5
    run = start(demo)
    claimed_by(monkeypatch, run, "dead", silent_for=60)
    (row,) = run_sweep.RUNS.rows().values(
        "pk", "worker", "worker_instance", "deliveries", "merges", "partition_count"
    )
    claimed_by(monkeypatch, run, "dead", silent_for=60)  # redelivered meanwhile (same process)
    assert claim_sweep._hand_back(run_sweep.RUNS, row) is False
    assert Run.objects.get(pk=run.pk).worker_instance == "dead"


def test_a_run_whose_workers_keep_dying_is_given_up_with_the_usual_message(
    demo, monkeypatch, settings, queue, django_capture_on_commit_callbacks
):
    settings.WORKER_STALE_AFTER = 5
    run = start(demo)
    for attempt in range(1, run_execution.MAX_DELIVERIES + 1):
        claimed_by(monkeypatch, run, f"dead-{attempt}", f"w{attempt}@host", silent_for=60)
        with django_capture_on_commit_callbacks(execute=True):
            assert [h.fence for h in claim_sweep.sweep()] == [{"deliveries": attempt, "merges": 0}]
    assert queue() == run_execution.MAX_DELIVERIES
    assert run_execution.execute_run(run.pk, worker="w4@host") == "failed"
    run.refresh_from_db()
    assert run.deliveries == run_execution.MAX_DELIVERIES + 1
    assert run.message == (
        "The run was started 3 times without finishing (its worker stopped each time, perhaps "
        "for lack of memory); the run was given up. Start it again."
    )


def test_a_delivery_taken_over_neither_stores_nor_ends_the_run(
    demo, monkeypatch, settings, queue, django_capture_on_commit_callbacks
):
    """The first worker only seemed dead: back, it must not store or end over the second."""
    settings.WORKER_STALE_AFTER = 5
    run = start(demo, "trades")
    first = claimed_by(monkeypatch, run, "first", silent_for=60)
    result = result_of(first)
    with django_capture_on_commit_callbacks(execute=True):
        claim_sweep.sweep()
    second = claimed_by(monkeypatch, run, "second")
    stale = run_execution.Claim.of("deliveries", first.deliveries)
    with pytest.raises(RunSuperseded):
        run_execution.Progress(run.pk, stale)(50, "reconciling")
    assert run_execution.store_and_finish(first, result, engine_ms=1, claim=stale) == "running"
    assert not run_execution.finish(first, Run.Status.FAILED, "an error of the first", claim=stale)
    with run_execution.failures_recorded(first, stale) as outcome:
        raise ValueError("the first worker's late error")
    assert outcome.status == "running"
    state = Run.objects.values("status", "break_count", "deliveries").get(pk=run.pk)
    assert state == {"status": "running", "break_count": None, "deliveries": 2}
    assert not BreakObservation.objects.filter(run=run).exists()
    current = run_execution.Claim.of("deliveries", second.deliveries)
    assert run_execution.store_and_finish(second, result, engine_ms=1, claim=current) == "succeeded"
    assert BreakObservation.objects.filter(run=run).count() == result.breaks.height


@pytest.fixture
def split_in_three(settings):
    settings.RUN_PARTITION_MIN_ROWS = 1
    settings.RUN_PARTITIONS = 3
    settings.WORKER_STALE_AFTER = 5


def test_a_part_whose_worker_went_silent_is_sent_again_and_its_first_delivery_keeps_nothing(
    demo, monkeypatch, split_in_three, queue, django_capture_on_commit_callbacks
):
    run = start(demo)
    with django_capture_on_commit_callbacks(execute=True):
        assert run_execution.execute_run(run.pk, worker="splitter@host") == "running"
    assert Run.objects.get(pk=run.pk).worker == ""  # held by its parts now
    sent_parts = queue()
    as_worker(monkeypatch, "dead")
    stale = run_execution._claim_part(run.pk, 2, "dead@host")
    beat("dead", 60, "dead@host")
    monkeypatch.delenv(health.INSTANCE_ENV)
    with django_capture_on_commit_callbacks(execute=True):
        handed = claim_sweep.sweep()
    assert [(h.kind, h.worker) for h in handed] == [("run parts", "dead@host")]
    assert queue() == sent_parts + 1
    assert Run.objects.get(pk=run.pk).status == "running"
    assert run_execution.execute_partition(run.pk, 2, worker="next@host") == "running"
    definition = rule_definition.validate(run.rule_set_version.definition)
    late = run_engine.reconcile(
        stale.run, run_inputs.load_inputs(stale.run, stale.assets), definition
    )
    part = RunPartition.objects.get(run=run, number=2)
    kept = (part.break_count, part.breaks)
    partitions.keep(stale, late, 1)  # done already: the stale delivery changes nothing
    part.refresh_from_db()
    assert (part.break_count, part.breaks) == kept and part.deliveries == 2
    assert [run_execution.execute_partition(run.pk, n) for n in (1, 3)] == ["running", "succeeded"]


def test_a_part_taken_over_while_running_keeps_nothing(demo, monkeypatch, split_in_three, queue):
    run = start(demo)
    run_execution.execute_run(run.pk)
    stale = run_execution._claim_part(run.pk, 1, "first@host")
    run_execution._claim_part(run.pk, 1, "second@host")  # handed back and claimed again meanwhile
    definition = rule_definition.validate(run.rule_set_version.definition)
    late = run_engine.reconcile(
        stale.run, run_inputs.load_inputs(stale.run, stale.assets), definition
    )
    with pytest.raises(RunSuperseded):
        partitions.keep(stale, late, 1)
    assert RunPartition.objects.get(run=run, number=1).status == "running"


def test_a_merge_whose_worker_went_silent_is_sent_again_and_finishes_the_run(
    demo, monkeypatch, split_in_three, queue, django_capture_on_commit_callbacks
):
    run = start(demo)
    run_execution.execute_run(run.pk)
    definition = rule_definition.validate(run.rule_set_version.definition)
    for number in (1, 2, 3):  # every part done; the merge's worker dies before it stores
        part = run_execution._claim_part(run.pk, number, "w@host")
        result = run_engine.reconcile(run, run_inputs.load_inputs(run, part.assets), definition)
        partitions.keep(part, result, 1)
    as_worker(monkeypatch, "merger")
    Run.objects.filter(pk=run.pk).update(merges=1, **claim_sweep.claimant("merger@host"))
    beat("merger", 60, "merger@host")
    monkeypatch.delenv(health.INSTANCE_ENV)
    with django_capture_on_commit_callbacks(execute=True):
        handed = claim_sweep.sweep()
    assert [(h.kind, h.fence) for h in handed] == [("runs", {"deliveries": 1, "merges": 1})]
    assert queue() == 1  # a done part's task, which goes on to the merge
    assert run_execution.execute_partition(run.pk, 1, worker="next@host") == "succeeded"
    run.refresh_from_db()
    assert (run.merges, run.deliveries) == (2, 1)
    assert run.break_count == BreakObservation.objects.filter(run=run).count()


def test_one_worker_sweeps_per_interval(demo, monkeypatch, settings, queue):
    """Every worker tries each interval; the Redis lock lets the first one sweep."""
    settings.WORKER_STALE_AFTER, settings.CLAIM_SWEEP_INTERVAL = 5, 2
    redis.Redis.from_url(settings.REDIS_URL).delete(claim_sweep.LOCK_KEY)
    run = start(demo)
    claimed_by(monkeypatch, run, "dead", silent_for=60)
    assert claim_sweep.sweep_if_due("first@host") is not None
    assert claim_sweep.sweep_if_due("second@host") is None  # within the interval: skipped
    time.sleep(2.1)
    assert claim_sweep.sweep_if_due("second@host") == []  # the next interval: its turn


def test_a_staleness_within_two_heartbeats_is_refused_at_start_up():
    """A live worker between two heartbeats must never look dead: such settings do not start."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "WORKER_HEARTBEAT_INTERVAL": "30", "WORKER_STALE_AFTER": "60"}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "WORKER_STALE_AFTER must be more than two WORKER_HEARTBEAT_INTERVALs" in done.stderr
