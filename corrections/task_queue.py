"""Sending corrections' Celery tasks by name (corrections/tasks.py registers them), so services
never import the tasks that call them. Sent after commit (`transaction.on_commit`)."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)

RELAY_OUTBOX = "corrections.relay_outbox"
PROPOSE_FOR_RUN = "corrections.propose_for_run"


def propose_for_run(run_id: int) -> None:
    current_app.send_task(PROPOSE_FOR_RUN, args=(run_id,))


def relay_outbox() -> None:
    """Have a worker relay the outbox now. A broker that is down only delays delivery (the relay
    sent after the workers' sweep catches up), so it must not fail a request that committed."""
    try:
        current_app.send_task(RELAY_OUTBOX, queue=settings.OUTBOX_QUEUE or None)
    except Exception:
        logger.exception("could not queue the outbox relay; the one after the next sweep will send")
