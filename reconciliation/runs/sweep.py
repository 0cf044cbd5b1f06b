"""Runs and parts whose worker stopped are handed to another worker (config/claim_sweep.py).

What a worker claims, and how the sweep hands it back:
- a run (executing whole, being split, or being merged), held by its delivery count and its
  merge count: sent again as the task that continues it — a whole run's task (counted as one
  more delivery, so a run whose workers keep dying is still given up after three), or, for a
  split run whose parts are all done, a done part's task, which goes on to the merge (counted
  as one more merge);
- a part of a split run, held by its own delivery count: its task is sent again.

The run keeps showing "running" throughout; its phase says it waits for another worker.
"""

from __future__ import annotations

import logging

from django.db import transaction

from audit import services as audit
from config import claim_sweep
from reconciliation import task_queue
from reconciliation.models import Run, RunPartition

logger = logging.getLogger(__name__)
WAITING = claim_sweep.WAITING


def _running_runs():
    return Run.objects.filter(status=Run.Status.RUNNING)


def _running_parts():
    return RunPartition.objects.filter(
        status=RunPartition.Status.RUNNING, run__status=Run.Status.RUNNING
    )


def _hand_back_run(row: dict) -> None:
    run_id = row["pk"]
    _record(run_id, row, "run")
    if not row["partition_count"]:
        transaction.on_commit(lambda: task_queue.execute_run(run_id))
        return
    pending = RunPartition.objects.filter(run_id=run_id).exclude(status=RunPartition.Status.DONE)
    if pending.exists():
        # Held while it was being split or sent: the run's task sends the waiting parts again
        # (parts a worker holds are handed back on their own).
        transaction.on_commit(lambda: task_queue.execute_run(run_id))
    else:  # every part done: its merge is what stopped
        transaction.on_commit(lambda: task_queue.execute_partitions(run_id, [1]))


def _hand_back_part(row: dict) -> None:
    run_id, number = row["run_id"], row["number"]
    _record(run_id, row, f"part {number}")
    Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).update(
        phase=f"part {number} is {WAITING}"
    )
    transaction.on_commit(lambda: task_queue.execute_partitions(run_id, [number]))


def _record(run_id: int, row: dict, what: str) -> None:
    audit.record(
        action="run.handed_back", object_type="run", object_id=run_id,
        after={"what": what, "worker": row["worker"], "deliveries": row["deliveries"]},
    )  # fmt: skip


RUNS = claim_sweep.Claimable(
    name="runs",
    rows=_running_runs,
    fence=("deliveries", "merges"),
    hand_back=_hand_back_run,
    released={"phase": WAITING},
    values=("partition_count",),
)
PARTS = claim_sweep.Claimable(
    name="run parts",
    rows=_running_parts,
    fence=("deliveries",),
    hand_back=_hand_back_part,
    values=("run_id", "number"),
)


def register() -> None:
    claim_sweep.register(RUNS)
    claim_sweep.register(PARTS)
