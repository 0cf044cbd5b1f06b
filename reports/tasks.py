"""Celery tasks of reports: thin doors into the services (sent by reports/task_queue.py)."""

from celery import shared_task

from reports import building, packs, services, task_queue


@shared_task(name=task_queue.BUILD_REPORT, bind=True)
def build_report(self, report_id: int) -> dict:
    """Build one report, once (reports/building.py)."""
    return building.build(report_id, worker=self.request.hostname or "")


@shared_task(name=task_queue.EXPIRE_REPORTS)
def expire_reports() -> int:
    """The retention policy (beat, hourly): files of reports past their time are deleted."""
    return services.expire_reports()


@shared_task(name=task_queue.DELIVER_PACK)
def deliver_pack(pack_id: int) -> int | None:
    """A report pack's firing (beat): its period's reports queued once."""
    delivery = packs.deliver(pack_id)
    return delivery.pk if delivery else None
