"""What corrections do when reconciliation says something happened (its signals)."""

from celery import current_app
from django.conf import settings
from django.dispatch import receiver

from reconciliation.runs.signals import run_succeeded

PROPOSE_FOR_RUN = "corrections.propose_for_run"


@receiver(run_succeeded)
def propose_after_run(sender, run_id: int, **kwargs) -> None:
    """Queue the run's automatic corrections (unless CORRECTIONS_PROPOSE_AFTER_RUNS is off)."""
    if settings.CORRECTIONS_PROPOSE_AFTER_RUNS:
        current_app.send_task(PROPOSE_FOR_RUN, args=(run_id,))
