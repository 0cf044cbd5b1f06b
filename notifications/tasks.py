"""Celery tasks of notifications: thin doors into the services (sent by task_queue)."""

from celery import shared_task

from notifications import services, task_queue


@shared_task(name=task_queue.RUN_ENDED)
def run_ended(run_id: int, step: int = 0) -> dict:
    return services.notify_run(run_id, step=step)


@shared_task(name=task_queue.APPROVALS)
def approvals_waiting(run_id: int) -> dict:
    return services.notify_approvals(run_id)


@shared_task(name=task_queue.REPORT_FAILED)
def report_failed(report_id: int) -> dict:
    return services.notify_report_failed(report_id)


@shared_task(name=task_queue.RETRY_DUE)
def retry_due() -> dict:
    return services.send_due()
