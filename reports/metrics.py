"""Reports' figures for /metrics (config/metrics.py): how long a report takes to build, observed
when its build ends (reports/building.py); reports in each status, read when scraped."""

from __future__ import annotations

from collections.abc import Iterable

from config import metrics
from reports.models import Report

BUILD_BUCKETS = (0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)

BUILD_SECONDS = metrics.histogram(
    "report_build_seconds",
    "Time a worker took to build a report's file, by format and how the build ended",
    ["format", "status"],
    BUILD_BUCKETS,
)


def build_ended(*, format_: str, status: str, seconds: float) -> None:
    """Count a build that ended the report (ready or failed)."""
    BUILD_SECONDS.labels(format=format_, status=status).observe(max(seconds, 0.0))


def states() -> Iterable:
    yield metrics.by_status(
        "reports", "Reports in each status", Report.objects.all(), Report.Status.values
    )


def register() -> None:
    metrics.register_state("reports", states)
