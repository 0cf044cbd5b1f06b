"""What notifications do when the apps below say something happened (their signals). Each is
already after commit; the task is sent only if notifications are on."""

from django.conf import settings
from django.dispatch import receiver

from corrections.signals import proposals_made
from notifications import task_queue
from reconciliation.runs.signals import run_failed, run_succeeded
from reports.signals import report_failed


@receiver(run_succeeded)
@receiver(run_failed)
def tell_of_run(sender, run_id: int, **kwargs) -> None:
    if settings.NOTIFICATIONS_ENABLED:
        task_queue.run_ended(run_id)


@receiver(proposals_made)
def tell_approvers(sender, run_id: int, **kwargs) -> None:
    if settings.NOTIFICATIONS_ENABLED:
        task_queue.approvals_waiting(run_id)


@receiver(report_failed)
def tell_of_report(sender, report_id: int, **kwargs) -> None:
    if settings.NOTIFICATIONS_ENABLED:
        task_queue.report_failed(report_id)
