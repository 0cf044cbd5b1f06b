"""Sending notifications' Celery tasks by name (notifications/tasks.py registers them), after
commit. A broker that is down loses only the prompt message: nothing is claimed yet, and the
failure is logged (the event can be told again: `services` never tells anyone twice)."""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)

RUN_ENDED = "notifications.run_ended"
APPROVALS = "notifications.approvals_waiting"
REPORT_FAILED = "notifications.report_failed"
RETRY_DUE = "notifications.retry_due"


def _send(name: str, args: tuple = (), countdown: int | None = None) -> None:
    try:
        current_app.send_task(name, args=args, countdown=countdown)
    except Exception:
        logger.exception("could not queue %s%s", name, args)


def run_ended(run_id: int, step: int = 0) -> None:
    """Tell of a run's end; `step` (minutes): an escalation's later step, sent that much later."""
    _send(RUN_ENDED, (run_id, step), countdown=step * 60 or None)


def approvals_waiting(run_id: int) -> None:
    _send(APPROVALS, (run_id,))


def report_failed(report_id: int) -> None:
    _send(REPORT_FAILED, (report_id,))


def retry_due() -> None:
    _send(RETRY_DUE)
