"""Celery tasks of reconciliation: thin doors into `reconciliation.runs`."""

from celery import shared_task

from reconciliation import runs


@shared_task(name="reconciliation.execute_run")
def execute_run(run_id: int) -> str:
    """Execute a queued run (safe to deliver twice: see reconciliation/runs.py)."""
    return runs.execute_run(run_id)


@shared_task(name="reconciliation.run_schedule")
def run_schedule(schedule_id: int) -> int | None:
    """Start a scheduled run (beat sends this); returns the run id, or None if skipped."""
    from reconciliation import schedules

    run = schedules.run_schedule(schedule_id)
    return run.pk if run else None
