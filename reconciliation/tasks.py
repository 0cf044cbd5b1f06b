"""Celery tasks of reconciliation: thin doors into `reconciliation.runs`."""

from celery import shared_task

from reconciliation import runs


@shared_task(name="reconciliation.execute_run", bind=True)
def execute_run(self, run_id: int) -> str:
    """Execute a queued run (safe to deliver twice: see reconciliation/runs.py)."""
    return runs.execute_run(run_id, worker=self.request.hostname or "")


@shared_task(name="reconciliation.execute_partition", bind=True)
def execute_partition(self, run_id: int, number: int) -> str:
    """Execute one part of a large run (safe to deliver twice: see reconciliation/partitions.py)."""
    from reconciliation import partitions

    return partitions.execute_partition(run_id, number, worker=self.request.hostname or "")


@shared_task(name="reconciliation.execute_import", bind=True)
def execute_import(self, job_id: int) -> str:
    """Load a confirmed upload (safe to deliver twice: see reconciliation/import_jobs.py)."""
    from reconciliation import import_jobs

    return import_jobs.execute_import(job_id, worker=self.request.hostname or "")


@shared_task(name="reconciliation.prepare_frame")
def prepare_frame(dataset_id: int) -> bool:
    """Write a dataset's columnar copy for the engine (safe to deliver twice)."""
    from reconciliation import frames
    from reconciliation.models import Dataset

    dataset = Dataset.objects.filter(pk=dataset_id).first()
    return frames.prepare(dataset) if dataset is not None else False


@shared_task(name="reconciliation.run_schedule")
def run_schedule(schedule_id: int) -> int | None:
    """Start a scheduled run (beat sends this); returns the run id, or None if skipped."""
    from reconciliation import schedules

    run = schedules.run_schedule(schedule_id)
    return run.pk if run else None
