"""Celery tasks of corrections: thin doors into the services (sent by corrections/task_queue)."""

from celery import shared_task

from corrections import outbox, services, task_queue
from reconciliation.models import Run

# One task relays this long at most (receivers may each take OUTBOX_HTTP_TIMEOUT to fail), then
# hands the rest to a new task: a worker is not held for hours by one slow receiver.
SECONDS = 60


@shared_task(name=task_queue.PROPOSE_FOR_RUN)
def propose_for_run(run_id: int) -> dict:
    """A succeeded run's automatic corrections, once: all in one transaction, so a worker that
    dies half-way leaves none, and the redelivered task (late acknowledgement, settings) makes
    them again; a second delivery after it committed finds the breaks corrected and adds none."""
    return services.propose_for_run(Run.objects.get(pk=run_id))


@shared_task(name=task_queue.RELAY_OUTBOX)
def relay_outbox() -> dict:
    """Send due webhook deliveries (after a publish commits, and after each sweep for retries)."""
    done = outbox.relay(seconds=SECONDS)
    if done.more:
        task_queue.relay_outbox()
    return {"delivered": done.delivered, "retrying": done.retrying, "given_up": done.given_up,
            "disabled": done.disabled}  # fmt: skip
