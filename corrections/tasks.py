"""Celery tasks of corrections: doors that call the services."""

from celery import shared_task

from corrections import services
from corrections.receivers import PROPOSE_FOR_RUN
from reconciliation.models import Run


@shared_task(name=PROPOSE_FOR_RUN)
def propose_for_run(run_id: int) -> dict:
    """A succeeded run's automatic corrections, once: all in one transaction, so a worker that
    dies half-way leaves none, and the redelivered task (late acknowledgement, settings) makes
    them again; a second
    delivery after it committed finds the breaks corrected and adds none."""
    return services.propose_for_run(Run.objects.get(pk=run_id))
