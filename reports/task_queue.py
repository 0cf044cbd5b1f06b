"""Sending the reports' Celery tasks by name (the tasks, reports/tasks.py, are doors that call
the services, which send them here: see reconciliation/task_queue.py for why)."""

from __future__ import annotations

from celery import current_app

BUILD_REPORT = "reports.build_report"
EXPIRE_REPORTS = "reports.expire_reports"
DELIVER_PACK = "reports.deliver_pack"


def build_report(report_id: int) -> None:
    current_app.send_task(BUILD_REPORT, args=(report_id,))
