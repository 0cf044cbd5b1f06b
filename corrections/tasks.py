"""Celery tasks of corrections: thin doors into the services (sent by corrections/task_queue)."""

from celery import shared_task

from corrections import outbox, task_queue

LIMIT = 1000


@shared_task(name=task_queue.RELAY_OUTBOX)
def relay_outbox() -> dict:
    """Send due webhook deliveries (after a publish commits, and periodically for retries)."""
    done = outbox.relay(limit=LIMIT)
    if done.attempts >= LIMIT:  # more may be due: go on in a new task, not hold this one
        task_queue.relay_outbox()
    return {"delivered": done.delivered, "retrying": done.retrying, "given_up": done.given_up,
            "disabled": done.disabled}  # fmt: skip
