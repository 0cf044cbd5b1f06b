"""A worker killed while it proposes and applies a run's automatic corrections: the task sent
again (by Celery when the pool process dies, by another worker's sweep when the whole worker
does) makes them once; nothing is applied twice, nothing half-written stays."""

import os
import signal
import time
import uuid
from collections import Counter

import pytest

from audit import selectors as audit_selectors
from corrections.models import Correction, ProposalJob
from reconciliation.models import Adjustment, AdjustmentSet
from reconciliation.runs import services as runs
from tests.corrections.large_books import load
from tests.worker import sending_to, statement_running, wait_until_ended, worker_process

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ASSETS = 8_000
PROPOSE = {"CORRECTIONS_PROPOSE_AFTER_RUNS": "true"}
# The sweep (config/claim_sweep.py) soon; Redis's visibility timeout stays 6 h.
SWEEP_SOON = {"WORKER_STALE_AFTER": "5", "CLAIM_SWEEP_INTERVAL": "1"}


def _wait_for(like: str, worker, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statement = statement_running(like)
        if statement:
            return statement
        time.sleep(0.01)
    raise AssertionError(f"the worker never ran {like!r}\n{worker.log()[-4000:]}")


def _corrections_once(run, timeout: float = 180) -> None:
    """Wait for the run's corrections (one transaction: all at once), then check them."""
    deadline = time.monotonic() + timeout
    while not Correction.objects.filter(run=run).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    statuses = Counter(Correction.objects.filter(run=run).values_list("status", flat=True))
    assert sum(statuses.values()) == ASSETS
    assert statuses["applied"] == ASSETS // 4, statuses  # the small differences: automatic
    assert AdjustmentSet.objects.count() == Adjustment.objects.count() == statuses["applied"]
    keys = Counter(Adjustment.objects.values_list("key", flat=True))
    assert max(keys.values()) == 1  # no asset adjusted twice
    assert ProposalJob.objects.get(run=run).status == "done"


def _succeeded_run(internal, external, prices, worker):
    run = runs.start_run(type="position", internal=internal, external=external, prices=prices)
    run = wait_until_ended(run, worker, timeout=180)
    assert run.status == "succeeded" and run.break_count == ASSETS
    return run


def test_a_worker_whose_pool_process_is_killed_while_applying_applies_none_twice():
    internal, external, prices = load(ASSETS)
    with worker_process(extra_env=PROPOSE) as worker, sending_to(worker.queue):
        run = _succeeded_run(internal, external, prices, worker)
        # Inside the proposal's one transaction, while it writes the audit entries (those of the
        # corrections waiting for approval, then of the ones applied, after their adjustments).
        _wait_for('COPY "audit_auditevent"%', worker)
        (pool_process,) = worker.pool_pids()
        os.kill(pool_process, signal.SIGKILL)
        assert Correction.objects.filter(run=run).count() == 0  # the transaction died whole
        _corrections_once(run)
        log = worker.log()
    assert "WorkerLostError" in log, log[-4000:]
    assert ProposalJob.objects.get(run=run).deliveries == 2


def test_a_whole_worker_killed_while_applying_is_swept_and_its_work_done_once():
    """SIGKILL of main and pool (Redis would redeliver only after 6 h): a fresh worker's sweep
    sees the first one silent and sends the proposals again; they are made once."""
    internal, external, prices = load(ASSETS)
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {**PROPOSE, **SWEEP_SOON}
    with sending_to(queue):
        with worker_process(extra_env=env, queue=queue, name=f"{queue}-first") as first:
            run = _succeeded_run(internal, external, prices, first)
            _wait_for('COPY "audit_auditevent"%', first)
            first.kill()
        assert Correction.objects.filter(run=run).count() == 0  # the transaction died whole
        assert ProposalJob.objects.get(run=run).status == "running"
        with worker_process(extra_env=env, queue=queue, name=f"{queue}-second") as second:
            _corrections_once(run)
            job = ProposalJob.objects.get(run=run)
            assert (job.deliveries, job.worker) == (2, second.hostname), second.log()[-4000:]
    handed = audit_selectors.events(action="corrections.proposals_handed_back")
    assert [entry.after for entry in handed] == [{"worker": first.hostname, "deliveries": 1}]
    assert audit_selectors.verify_chain().ok
