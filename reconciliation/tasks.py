"""Celery tasks of reconciliation: thin doors into the services (sent by reconciliation/task_queue).

Their names are task_queue's: a task already queued under a name keeps resolving.
"""

from celery import shared_task

from reconciliation import task_queue
from reconciliation.datasets import import_jobs
from reconciliation.datasets import services as dataset_services
from reconciliation.runs import execution as run_execution
from reconciliation.schedules import services as schedules


@shared_task(name=task_queue.EXECUTE_RUN, bind=True)
def execute_run(self, run_id: int) -> str:
    """Execute a queued run (safe to deliver twice: see reconciliation/runs/execution.py)."""
    return run_execution.execute_run(run_id, worker=self.request.hostname or "")


@shared_task(name=task_queue.EXECUTE_PARTITION, bind=True)
def execute_partition(self, run_id: int, number: int) -> str:
    """Execute one part of a large run (safe to deliver twice, as a whole run is)."""
    return run_execution.execute_partition(run_id, number, worker=self.request.hostname or "")


@shared_task(name=task_queue.EXECUTE_IMPORT, bind=True)
def execute_import(self, job_id: int) -> str:
    """Load a confirmed upload (safe to deliver twice: see datasets/import_jobs.py)."""
    return import_jobs.execute_import(job_id, worker=self.request.hostname or "")


@shared_task(name=task_queue.PREPARE_FRAME)
def prepare_frame(dataset_id: int) -> bool:
    """Write a dataset's columnar copy for the engine (safe to deliver twice)."""
    return dataset_services.prepare_frame(dataset_id)


@shared_task(name=task_queue.RUN_SCHEDULE)
def run_schedule(schedule_id: int) -> int | None:
    """Start a scheduled run (beat sends this); returns the run id, or None if skipped."""
    run = schedules.run_schedule(schedule_id)
    return run.pk if run else None
