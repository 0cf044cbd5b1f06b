"""A real worker killed while it executes a run: the redelivered task finishes it, exactly once.

Each test loads two trade datasets large enough for the run to spend seconds in its phases,
starts the run on a real worker, watches `Run.phase` and SIGKILLs the worker in the phase it
targets. The message, acknowledged late, is delivered again and the run must end as an
undisturbed run of the same inputs ends: the same breaks with the same values, each stored and
counted once, and an audit chain that still verifies.
"""

import os
import signal
import time
import uuid
from collections import Counter

import pytest
from django.db.models import Count

from audit import selectors as audit_selectors
from audit import services as audit_services
from audit.models import AuditEvent
from reconciliation.datasets import ingest, services
from reconciliation.models import Break, BreakObservation, Dataset, Run
from reconciliation.runs import services as runs
from reconciliation.runs.selectors import run_matches
from tests.reconciliation.large_trades import TRADES, _trade_files
from tests.worker import Worker, sending_to, statement_running, wait_until_ended, worker_process

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

EXPECTED_BREAKS = 3 * TRADES // 10  # missing in the book, price off, missing at the exchange
VISIBILITY_TIMEOUT = 2  # seconds before a message delivered to a dead worker is handed out again
# One whole run (no parts): the phases watched are those of run_execution.execute_run.
WHOLE_RUN = {"RUN_PARTITIONS": "1"}
BEFORE_STORING = {"loading datasets", "reconciling"}
STORING = {"storing breaks"}


def _datasets() -> tuple[Dataset, Dataset]:
    book_file, exchange_file = _trade_files(TRADES)
    book, _ = services.ensure_account(
        source_code="book", account_code="main", kind="internal", by=None
    )
    kraken, _ = services.ensure_account(
        source_code="kraken", account_code="main", kind="exchange", exchange="kraken", by=None
    )
    internal, external = (
        ingest.import_file(source=account.source, account=account, format_code="generic-trades",
                           data=data, filename=name).dataset
        for account, data, name in ((book, book_file, "book.csv"),
                                    (kraken, exchange_file, "kraken.csv"))
    )  # fmt: skip
    assert internal.row_count == external.row_count == TRADES
    return internal, external


def _state(run: Run) -> dict:
    return Run.objects.filter(pk=run.pk).values("phase", "status", "deliveries", "break_count")[0]


def _wait_for_phase(run: Run, phases: set[str], worker: Worker, timeout: float = 60) -> dict:
    """Poll the run every 20 ms until it is in one of `phases`; its state then."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _state(run)
        if state["phase"] in phases:
            return state
        if not seen or seen[-1] != state["phase"]:
            seen.append(state["phase"])
        assert state["status"] in ("queued", "running"), (
            f"the run ended ({state}) before reaching {phases}; phases seen: {seen}\n"
            + worker.log()[-4000:]
        )
        time.sleep(0.02)
    raise AssertionError(f"the run never reached {phases}; phases seen: {seen}\n{worker.log()}")


def _wait_for_store_statement(run: Run, worker: Worker, timeout: float = 30) -> str:
    """Poll until the worker merges the staged breaks into breaks or observations; that SQL."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statement = statement_running("%INSERT INTO reconciliation_break%FROM staged_breaks%")
        if statement:
            return statement
        state = _state(run)
        assert state["break_count"] is None, f"stored before it could be killed: {state}"
        time.sleep(0.02)
    raise AssertionError(f"no statement of the store seen\n{worker.log()[-4000:]}")


def _observations(run: Run) -> set[tuple]:
    return set(
        BreakObservation.objects.filter(run=run).values_list(
            "break_record__break_key", "internal_value", "external_value", "difference",
            "value_rc", "severity",
        )
    )  # fmt: skip


def _reference_run(internal: Dataset, external: Dataset, worker: Worker) -> Run:
    """The same inputs run again, undisturbed, by the worker still up."""
    reference = runs.start_run(type="trades", internal=internal, external=external)
    reference = wait_until_ended(reference, worker)
    assert reference.status == "succeeded", reference.message
    assert reference.deliveries == 1
    return reference


def _assert_finished_once_like(run: Run, reference: Run) -> None:
    """The killed run ended as the undisturbed one: same breaks and values, each stored once."""
    assert run.status == "succeeded", run.message
    assert run.deliveries == 2
    assert run.break_count == reference.break_count == EXPECTED_BREAKS
    assert (run.match_count, run.by_severity) == (reference.match_count, reference.by_severity)
    observed = _observations(run)
    assert len(observed) == BreakObservation.objects.filter(run=run).count() == run.break_count
    twice = (
        BreakObservation.objects.filter(run=run)
        .values("break_record__break_key")
        .annotate(times=Count("id"))
        .filter(times__gt=1)
    )
    assert not twice.exists()
    assert observed == _observations(reference)
    # Each break merged once per run (a second merge by the redelivery would count 3).
    assert set(Break.objects.values_list("times_seen", flat=True)) == {2}
    assert Break.objects.count() == EXPECTED_BREAKS
    assert run_matches(run).height == run.match_count
    actions = Counter(
        AuditEvent.objects.filter(object_type="run", object_id=str(run.pk)).values_list(
            "action", flat=True
        )
    )
    once = ("run.started", "run.breaks_stored", "run.succeeded")
    assert {action: actions[action] for action in once} == dict.fromkeys(once, 1), actions
    report = audit_selectors.verify_chain()
    assert report.ok, report.problem
    assert report.checked == AuditEvent.objects.count()


def test_a_run_whose_pool_process_is_killed_while_storing_is_finished_by_the_redelivery():
    """SIGKILL of the pool process: the main process requeues the task (reject on worker lost)."""
    internal, external = _datasets()
    audit_services.export_head()  # verify_chain then also checks this head is kept
    with worker_process(extra_env=WHOLE_RUN) as worker, sending_to(worker.queue):
        run = runs.start_run(type="trades", internal=internal, external=external)
        _wait_for_phase(run, STORING, worker)
        # Inside the store's transaction, while PostgreSQL merges the staged breaks (a statement
        # it finishes after the client died, holding the run's lock, before rolling back).
        statement = _wait_for_store_statement(run, worker)
        (pool_process,) = worker.pool_pids()
        os.kill(pool_process, signal.SIGKILL)
        at_kill = _state(run)
        assert at_kill["status"] == "running" and at_kill["deliveries"] == 1, at_kill
        assert at_kill["break_count"] is None, (at_kill, statement)
        run = wait_until_ended(run, worker)
        log = worker.log()
        reference = _reference_run(internal, external, worker)
    assert "WorkerLostError" in log and "SIGKILL" in log, log[-4000:]
    assert worker.process.returncode == 0  # the main process survived the loss of its child
    _assert_finished_once_like(run, reference)


def test_a_run_whose_whole_worker_is_killed_is_finished_by_the_next_worker():
    """SIGKILL of main and pool processes: nobody requeues; Redis redelivers after the timeout
    (here shorter than WORKER_STALE_AFTER, so Redis comes before the sweep)."""
    internal, external = _datasets()
    audit_services.export_head()
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {**WHOLE_RUN, "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT)}
    with sending_to(queue):
        with worker_process(extra_env=env, queue=queue, name=f"{queue}-first") as first:
            run = runs.start_run(type="trades", internal=internal, external=external)
            _wait_for_phase(run, BEFORE_STORING, first)
            first.kill()
            killed_at = time.monotonic()
            at_kill = _state(run)
        assert at_kill["phase"] in BEFORE_STORING, at_kill
        assert at_kill["status"] == "running" and at_kill["deliveries"] == 1, at_kill
        assert at_kill["break_count"] is None
        # A starting worker restores the unacknowledged messages older than the visibility
        # timeout (kombu's first sweep; the next ones come minutes apart): wait that long.
        time.sleep(max(0.0, killed_at + VISIBILITY_TIMEOUT + 0.5 - time.monotonic()))
        assert _state(run) == at_kill  # nothing moved while no worker was up
        with worker_process(extra_env=env, queue=queue, name=f"{queue}-second") as second:
            run = wait_until_ended(run, second)
            reference = _reference_run(internal, external, second)
    assert first.process.returncode == -signal.SIGKILL
    _assert_finished_once_like(run, reference)


# The sweep (config/claim_sweep.py) soon, not Redis's visibility timeout (6 h, left as it is).
SWEEP_SOON = {"WORKER_STALE_AFTER": "5", "CLAIM_SWEEP_INTERVAL": "1"}


def test_a_run_whose_whole_worker_is_killed_is_handed_to_a_fresh_worker_within_seconds():
    """SIGKILL of main and pool processes, 6 h visibility timeout: the fresh worker's sweep sees
    the claiming worker silent and sends the run again; it finishes once, as if undisturbed."""
    internal, external = _datasets()
    audit_services.export_head()
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {**WHOLE_RUN, **SWEEP_SOON}
    with sending_to(queue):
        with worker_process(extra_env=env, queue=queue, name=f"{queue}-first") as first:
            run = runs.start_run(type="trades", internal=internal, external=external)
            _wait_for_phase(run, BEFORE_STORING, first)
            first.kill()
            killed_at = time.monotonic()
            at_kill = _state(run)
        assert at_kill["status"] == "running" and at_kill["deliveries"] == 1, at_kill
        claimed_by = Run.objects.values_list("worker", flat=True).get(pk=run.pk)
        assert claimed_by == first.hostname
        with worker_process(extra_env=env, queue=queue, name=f"{queue}-second") as second:
            run = wait_until_ended(run, second, timeout=90)
            recovered_in = time.monotonic() - killed_at
            reference = _reference_run(internal, external, second)
            log = second.log()
    assert first.process.returncode == -signal.SIGKILL
    assert "handed back" in log, log[-4000:]
    assert recovered_in < 90
    _assert_finished_once_like(run, reference)
    handed = AuditEvent.objects.filter(action="run.handed_back", object_id=str(run.pk))
    assert [event.after["worker"] for event in handed] == [first.hostname]


def test_a_worker_taken_for_dead_that_comes_back_stores_nothing_over_the_next_delivery():
    """The first worker freezes (SIGSTOP of main and pool) while reconciling: the run goes to a
    second worker; thawed, the first finishes its engine work but its store is refused (its
    delivery number is no longer the run's), so the run is stored and ended once, by the second.
    """
    internal, external = _datasets()
    audit_services.export_head()
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {**WHOLE_RUN, **SWEEP_SOON}
    with (
        sending_to(queue),
        worker_process(extra_env=env, queue=queue, name=f"{queue}-first") as first,
        worker_process(extra_env=env, queue=queue, name=f"{queue}-second") as second,
    ):
        run = runs.start_run(type="trades", internal=internal, external=external)
        _wait_for_phase(run, {"reconciling"}, first)
        holder = Run.objects.values_list("worker", flat=True).get(pk=run.pk)
        frozen, other = (first, second) if holder == first.hostname else (second, first)
        os.killpg(frozen.pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 60
            while _state(run)["deliveries"] < 2:
                assert time.monotonic() < deadline, other.log()[-4000:]
                time.sleep(0.05)
        finally:
            os.killpg(frozen.pid, signal.SIGCONT)
        run = wait_until_ended(run, other, timeout=90)
        # The thawed worker's task ends too (acknowledged), having stored nothing.
        deadline = time.monotonic() + 60
        while "succeeded in" not in frozen.log():
            assert time.monotonic() < deadline, frozen.log()[-4000:]
            time.sleep(0.1)
        reference = _reference_run(internal, external, other)
    assert run.worker == ""  # ended: nobody holds it
    _assert_finished_once_like(run, reference)


def test_a_split_run_whose_worker_dies_inside_a_part_is_finished_once():
    """A part is killed mid-way: redelivered, done once; the run merges and stores once."""
    from reconciliation.models import RunPartition

    internal, external = _datasets()
    split = {"RUN_PARTITIONS": "4", "RUN_PARTITION_MIN_ROWS": "1"}
    with worker_process(extra_env=split) as worker, sending_to(worker.queue):
        run = runs.start_run(type="trades", internal=internal, external=external)
        deadline = time.monotonic() + 60
        while not RunPartition.objects.filter(run=run, status="running").exists():
            assert time.monotonic() < deadline, worker.log()[-4000:]
            time.sleep(0.02)
        (pool_process,) = worker.pool_pids()
        os.kill(pool_process, signal.SIGKILL)
        run = wait_until_ended(run, worker)
        reference = runs.start_run(type="trades", internal=internal, external=external)
        reference = wait_until_ended(reference, worker)
    assert run.status == reference.status == "succeeded", (run.message, reference.message)
    assert run.partition_count == 4
    assert max(RunPartition.objects.filter(run=run).values_list("deliveries", flat=True)) == 2
    assert run.break_count == reference.break_count == EXPECTED_BREAKS
    assert _observations(run) == _observations(reference)
    assert BreakObservation.objects.filter(run=run).count() == run.break_count
    assert run_matches(run).height == run.match_count
    assert run.match_count == reference.match_count


def test_a_split_run_whose_whole_worker_is_killed_inside_a_part_is_finished_by_a_fresh_worker():
    """SIGKILL of main and pool inside a part (6 h visibility timeout): the fresh worker does
    the parts still queued, the sweep hands it the killed one, and the run merges once."""
    from reconciliation.models import RunPartition

    internal, external = _datasets()
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {"RUN_PARTITIONS": "4", "RUN_PARTITION_MIN_ROWS": "1", **SWEEP_SOON}
    with sending_to(queue):
        with worker_process(extra_env=env, queue=queue, name=f"{queue}-first") as first:
            run = runs.start_run(type="trades", internal=internal, external=external)
            deadline = time.monotonic() + 60
            while not RunPartition.objects.filter(run=run, status="running").exists():
                assert time.monotonic() < deadline, first.log()[-4000:]
                time.sleep(0.02)
            first.kill()
        (killed,) = RunPartition.objects.filter(run=run, status="running")
        assert killed.worker == first.hostname and killed.deliveries == 1
        with worker_process(extra_env=env, queue=queue, name=f"{queue}-second") as second:
            run = wait_until_ended(run, second, timeout=120)
            reference = runs.start_run(type="trades", internal=internal, external=external)
            reference = wait_until_ended(reference, second, timeout=120)
    assert run.status == reference.status == "succeeded", (run.message, reference.message)
    assert run.partition_count == 4
    killed.refresh_from_db()
    assert (killed.status, killed.deliveries) == ("done", 2)
    assert killed.worker == second.hostname
    assert run.break_count == reference.break_count == EXPECTED_BREAKS
    assert _observations(run) == _observations(reference)
    assert BreakObservation.objects.filter(run=run).count() == run.break_count
    assert run_matches(run).height == run.match_count == reference.match_count
