"""A report built by a worker: claimed, its content built and laid out, its file stored with
size and SHA-256, ended; each step guarded so that a redelivered task or a worker taken for
dead never ends it twice.

A delivery claims the report (one more delivery counted, the worker recorded). The file is
written beside its final name and moved there in one step (`os.replace`), then the report is
marked ready only while this delivery still holds it: a worker that dies half-way leaves a
partial file nobody points at (the next delivery writes its own), and the report queued for
the sweep to send again (config/claim_sweep.py).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from config import claim_sweep
from config.errors import DomainError
from config.heap import collector_paused
from reports import metrics, packs, signals
from reports.content import builder
from reports.content.types import ChainHead
from reports.models import Report
from reports.rendering import RENDERINGS, measure, render

logger = logging.getLogger(__name__)
Status = Report.Status
ACTIVE = (Status.QUEUED, Status.BUILDING)
FORMAT_NAMES = {"pdf": "PDF", "xlsx": "Excel", "html": "HTML", "csv": "CSV", "json": "JSON"}


def build(report_id: int, *, worker: str = "") -> dict:
    """This delivery's build of the report: what it did, or why it did nothing."""
    report = _claim(report_id, worker)
    if report is None:
        return {"skipped": True}  # ended already, or never queued
    if report.deliveries > report.delivery_limit:
        gave_up = _fail(
            report,
            f"Given up after {report.deliveries - 1} deliveries: the workers building it kept "
            "stopping (out of memory?). Retry once that is fixed.",
        )
        if gave_up and report.pack_delivery_id:
            packs.send_when_built(report.pack_delivery_id)  # the pack's other files still go
        return {"given_up": True}
    started = time.perf_counter()
    part = final = None
    try:
        # Named by delivery: a worker taken for dead that comes back never overwrites the file
        # a later delivery stored (its name is in the report's row, with its checksum).
        folder = Path(settings.REPORTS_DIR) / str(report.pk // 1000)
        final = folder / f"{report.pk}.{report.deliveries}.{RENDERINGS[report.format].extension}"
        final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(f".{final.name}.{report.deliveries}.part")
        # No collection while the content is built and laid out (config.heap): it is gone by
        # the time the collector resumes, so its objects are never walked.
        with collector_paused():
            built = _write(report, part)
        size, digest = measure(part)
        _progress(report, 90, "storing the file")
        os.replace(part, final)
        part = None
        ended = _ready(report, built, final, size, digest, started)
        outcome = Status.READY
    except DomainError as refused:
        ended, outcome = _fail(report, refused.message), Status.FAILED
    except Exception:
        logger.exception("report %s: building failed", report_id)
        ended = _fail(
            report,
            "Building failed unexpectedly; the worker's log says why. Retry, "
            "or report it if it happens again.",
        )
        outcome = Status.FAILED
    finally:
        if part is not None:
            part.unlink(missing_ok=True)
    if final is not None and not _is_ready_with(report, final):
        final.unlink(missing_ok=True)  # stored, then the build failed: nobody points at it
    if ended:
        metrics.build_ended(
            format_=report.format, status=outcome, seconds=time.perf_counter() - started
        )
    if ended and report.pack_delivery_id:
        packs.send_when_built(report.pack_delivery_id)
    return {"ended": bool(ended)}


@dataclass(frozen=True)
class Built:
    """What the report's row keeps of its content."""

    title: str
    break_count: int
    chain_head: ChainHead


def _write(report: Report, part: Path) -> Built:
    """The report's content built and laid out into `part`; what its row keeps of it."""
    _progress(report, 10, "reading the breaks and corrections")
    content = builder.build(_wanted(report), generated_by=_requester(report))
    _progress(report, 50, f"laying out the {FORMAT_NAMES[report.format]} file")
    with part.open("wb") as out:
        render(report.format, content, out)
    return Built(content.title, len(content.breaks), content.chain_head)


def _wanted(report: Report) -> builder.Wanted:
    return builder.Wanted(
        run_id=report.run_id,
        period_from=report.period_from,
        period_to=report.period_to,
        filters=dict(report.filters),
    )


def _requester(report: Report) -> str:
    if report.pack_delivery_id:
        return f"report pack {report.pack_delivery.pack.name}"
    return report.requested_by.get_username() if report.requested_by else "system"


def _claim(report_id: int, worker: str) -> Report | None:
    """One more delivery, its number read under the row's lock: two deliveries of one task at
    once (the sweep's and Redis's) never hold the same number."""
    with transaction.atomic():
        found = Report.objects.select_for_update().filter(pk=report_id, status__in=ACTIVE)
        number = found.values_list("deliveries", flat=True).first()
        if number is None:
            return None
        Report.objects.filter(pk=report_id).update(
            status=Status.BUILDING,
            deliveries=number + 1,
            started_at=timezone.now(),
            progress=5,
            phase="starting",
            **claim_sweep.claimant(worker),
        )
    report = Report.objects.select_related("requested_by", "pack_delivery__pack").get(pk=report_id)
    report.deliveries = number + 1  # this delivery's number, whatever came after it
    return report


def _is_ready_with(report: Report, final: Path) -> bool:
    relative = final.relative_to(Path(settings.REPORTS_DIR)).as_posix()
    return Report.objects.filter(pk=report.pk, status=Status.READY, file_name=relative).exists()


def _held(report: Report):
    """The report while this delivery still holds it."""
    return Report.objects.filter(pk=report.pk, status=Status.BUILDING, deliveries=report.deliveries)


def _progress(report: Report, percent: int, phase: str) -> None:
    _held(report).update(progress=percent, phase=phase)


def _ready(report, built: Built, final: Path, size: int, digest: str, started: float) -> bool:
    now = timezone.now()
    relative = final.relative_to(Path(settings.REPORTS_DIR)).as_posix()
    with transaction.atomic():
        done = _held(report).update(
            status=Status.READY,
            progress=100,
            phase="ready",
            file_name=relative,
            size=size,
            sha256=digest,
            title=built.title[:300],
            break_count=built.break_count,
            chain_sequence=built.chain_head.sequence,
            chain_hash=built.chain_head.hash,
            finished_at=now,
            build_ms=int((time.perf_counter() - started) * 1000),
            expires_at=now + timedelta(days=settings.REPORT_RETENTION_DAYS),
            worker_instance="",
        )
        if done:
            audit.record(
                action="report.built",
                object_type="report",
                object_id=report.pk,
                after={
                    "format": report.format,
                    "size": size,
                    "sha256": digest,
                    "breaks": built.break_count,
                    "chain_head": built.chain_head.sequence,
                },
            )
    if not done:
        # A later delivery holds the report now (this worker was taken for dead): its file is
        # the one kept.
        logger.warning("report %s: built, but a later delivery holds it", report.pk)
        final.unlink(missing_ok=True)
    return bool(done)


def _fail(report: Report, message: str) -> bool:
    with transaction.atomic():
        done = _held(report).update(
            status=Status.FAILED,
            phase="failed",
            message=message,
            finished_at=timezone.now(),
            worker_instance="",
        )
        if done:
            audit.record(
                action="report.failed",
                object_type="report",
                object_id=report.pk,
                after={"message": message},
            )
            report_id = report.pk
            transaction.on_commit(
                lambda: signals.report_failed.send(sender=Report, report_id=report_id)
            )
    return bool(done)


def register_with_sweep() -> None:
    """A building report whose worker stopped is queued again (config/claim_sweep.py)."""
    from reports import task_queue

    def hand_back(row: dict) -> None:
        transaction.on_commit(lambda: task_queue.build_report(row["pk"]))

    claim_sweep.register(
        claim_sweep.Claimable(
            name="report",
            rows=lambda: Report.objects.filter(status=Status.BUILDING),
            fence=("deliveries",),
            hand_back=hand_back,
            released={"status": Status.QUEUED, "phase": claim_sweep.WAITING},
        )
    )
