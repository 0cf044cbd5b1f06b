"""Sending reconciliation's Celery tasks, by name: what services call to hand work to a worker.

The tasks themselves (reconciliation/tasks.py) are doors that call the services; if the services
imported them to send them, each would import the other. So services send a task by its name
here, and tasks.py registers its tasks under the same names (queued tasks keep resolving).
Call these after the transaction that created the work commits (`transaction.on_commit`).
"""

from __future__ import annotations

from celery import current_app

EXECUTE_RUN = "reconciliation.execute_run"
EXECUTE_PARTITION = "reconciliation.execute_partition"
EXECUTE_IMPORT = "reconciliation.execute_import"
PREPARE_FRAME = "reconciliation.prepare_frame"
RUN_SCHEDULE = "reconciliation.run_schedule"


def send(name: str, *args, queue: str | None = None) -> None:
    """Queue the task `name` with `args` (on `queue`, else the default queue)."""
    current_app.send_task(name, args=args, queue=queue)


def execute_run(run_id: int) -> None:
    send(EXECUTE_RUN, run_id)


def execute_partitions(run_id: int, numbers: list[int]) -> None:
    for number in numbers:
        send(EXECUTE_PARTITION, run_id, number)


def prepare_frame(dataset_id: int) -> None:
    send(PREPARE_FRAME, dataset_id)
