"""Celery tasks of reconciliation: thin doors into `reconciliation.runs`."""

from celery import shared_task

from reconciliation import runs


@shared_task(name="reconciliation.execute_run")
def execute_run(run_id: int) -> str:
    """Execute a queued run (safe to deliver twice: see reconciliation/runs.py)."""
    return runs.execute_run(run_id)
