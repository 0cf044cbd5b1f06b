"""What corrections do when reconciliation says something happened (its signals)."""

from django.conf import settings
from django.dispatch import receiver

from corrections import jobs
from reconciliation.runs.signals import run_succeeded


@receiver(run_succeeded)
def propose_after_run(sender, run_id: int, **kwargs) -> None:
    """Queue the run's automatic corrections (unless CORRECTIONS_PROPOSE_AFTER_RUNS is off)."""
    if settings.CORRECTIONS_PROPOSE_AFTER_RUNS:
        jobs.queue(run_id)
