"""A worker killed while it proposes and applies a run's automatic corrections: the redelivered
task makes them once; nothing is applied twice, nothing half-written stays."""

import os
import signal
import time
from collections import Counter

import pytest

from corrections.models import Correction
from reconciliation.models import Adjustment, AdjustmentSet
from reconciliation.runs import services as runs
from tests.corrections.large_books import load
from tests.worker import sending_to, statement_running, wait_until_ended, worker_process

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ASSETS = 8_000


def _wait_for(like: str, worker, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statement = statement_running(like)
        if statement:
            return statement
        time.sleep(0.01)
    raise AssertionError(f"the worker never ran {like!r}\n{worker.log()[-4000:]}")


def test_a_worker_killed_while_applying_a_runs_corrections_applies_none_twice():
    internal, external, prices = load(ASSETS)
    env = {"CORRECTIONS_PROPOSE_AFTER_RUNS": "true"}
    with worker_process(extra_env=env) as worker, sending_to(worker.queue):
        run = runs.start_run(type="position", internal=internal, external=external, prices=prices)
        run = wait_until_ended(run, worker, timeout=180)
        assert run.status == "succeeded" and run.break_count == ASSETS
        # Inside the proposal's one transaction, while it writes the audit entries (those of the
        # corrections waiting for approval, then of the ones applied, after their adjustments).
        _wait_for('COPY "audit_auditevent"%', worker)
        (pool_process,) = worker.pool_pids()
        os.kill(pool_process, signal.SIGKILL)
        assert Correction.objects.filter(run=run).count() == 0  # the transaction died whole
        deadline = time.monotonic() + 180
        while not Correction.objects.filter(run=run).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        log = worker.log()
    assert "WorkerLostError" in log, log[-4000:]
    statuses = Counter(Correction.objects.filter(run=run).values_list("status", flat=True))
    assert sum(statuses.values()) == ASSETS
    assert statuses["applied"] == ASSETS // 4, statuses  # the small differences: automatic
    assert AdjustmentSet.objects.count() == Adjustment.objects.count() == statuses["applied"]
    keys = Counter(Adjustment.objects.values_list("key", flat=True))
    assert max(keys.values()) == 1  # no asset adjusted twice
