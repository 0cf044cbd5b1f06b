"""Sending corrections' Celery tasks by name (corrections/tasks.py registers them), so services
never import the tasks that call them. Sent after commit (`transaction.on_commit`)."""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)

RELAY_OUTBOX = "corrections.relay_outbox"


def relay_outbox() -> None:
    """Have a worker relay the outbox now. A broker that is down only delays delivery (beat's
    periodic relay sends it later), so it must not fail the request that already committed."""
    try:
        current_app.send_task(RELAY_OUTBOX)
    except Exception:
        logger.exception("could not queue the outbox relay; the periodic relay will send")
