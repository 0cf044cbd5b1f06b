"""Runs' figures for /metrics (config/metrics.py): how long runs take and the breaks they find,
observed when a run ends (runs/execution.finish); how many runs are in each status, read when
scraped."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count

from config import metrics
from reconciliation.models import Run
from reconciliation.models.runs import TYPE_CHOICES

# Seconds: a small run takes under one, a large split run tens of minutes.
DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

RUN_DURATION = metrics.histogram(
    "run_duration_seconds",
    "Time from a run's start to its end, by run type and how it ended",
    ["type", "status"],
    DURATION_BUCKETS,
)
BREAKS_FOUND = metrics.counter(
    "breaks_found", "Breaks found by succeeded runs, by severity and run type", ["severity", "type"]
)


def run_ended(
    *, type_: str, status: str, started_at: datetime | None, finished_at: datetime,
    by_severity: dict | None,
) -> None:  # fmt: skip
    """Count a run that has just ended (once: `finish` calls it only for the delivery that
    ended the run, after its transaction commits)."""
    if started_at is not None:
        seconds = max((finished_at - started_at).total_seconds(), 0.0)
        RUN_DURATION.labels(type=type_, status=status).observe(seconds)
    if status == Run.Status.SUCCEEDED:
        for severity, count in (by_severity or {}).items():
            BREAKS_FOUND.labels(severity=severity, type=type_).inc(count)


def states() -> Iterable:
    """How many runs are in each status now, by run type (every status, zeros included)."""
    runs = metrics.gauge("runs", "Runs in each status, by run type", ["type", "status"])
    counted = {
        (row["type"], row["status"]): row["n"]
        for row in Run.objects.order_by().values("type", "status").annotate(n=Count("id"))
    }
    for type_, _ in TYPE_CHOICES:
        for status in Run.Status.values:
            runs.add_metric([type_, status], counted.get((type_, status), 0))
    yield runs


def register() -> None:
    metrics.register_state("runs", states)
