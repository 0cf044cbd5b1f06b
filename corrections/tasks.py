"""Celery tasks of corrections: thin doors into the services (sent by corrections/task_queue)."""

from celery import shared_task

from corrections import jobs, outbox, task_queue

# One task relays this long at most (receivers may each take OUTBOX_HTTP_TIMEOUT to fail), then
# hands the rest to a new task: a worker is not held for hours by one slow receiver.
SECONDS = 60


@shared_task(name=task_queue.PROPOSE_FOR_RUN, bind=True)
def propose_for_run(self, run_id: int) -> dict:
    """A succeeded run's automatic corrections, once (corrections/jobs.py): all in one
    transaction, so a worker that dies half-way leaves none, and the task sent again (by Celery
    or by the sweep) makes them; a delivery after one that committed adds none."""
    return jobs.deliver(run_id, worker=self.request.hostname or "")


@shared_task(name=task_queue.RELAY_OUTBOX)
def relay_outbox() -> dict:
    """Send due webhook deliveries (after a publish commits, and after each sweep for retries)."""
    done = outbox.relay(seconds=SECONDS)
    if done.more:
        task_queue.relay_outbox()
    return {"delivered": done.delivered, "retrying": done.retrying, "given_up": done.given_up,
            "disabled": done.disabled}  # fmt: skip
