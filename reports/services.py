"""What people do with reports: ask for one, retry a failed build, download a built one; and
the retention that expires them. Building is reports/building.py, packs reports/packs.py."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.access import has_capability
from audit import services as audit
from config import claim_sweep
from config.errors import DomainError
from config.heap import collector_paused
from reports import scope, task_queue
from reports.models import FORMATS, Report
from reports.rendering import RENDERINGS
from reports.scope import Wanted

Status = Report.Status


class NotAllowed(DomainError):
    code = "permission_denied"


class ReportRefused(DomainError):
    code = "report_refused"


class ReportFileDamaged(DomainError):
    code = "report_file_damaged"


def _require(user, capability: str, message: str) -> None:
    if not has_capability(user, capability):
        raise NotAllowed(message)


def request_report(wanted: Wanted, *, format_: str, by, pack_delivery=None) -> Report:
    """Queue the build of one report; a worker builds it (reports/building.py)."""
    if pack_delivery is None:
        _require(by, "download_reports", "You may not generate reports.")
    if format_ not in FORMATS:
        raise ReportRefused(f"Unknown format {format_!r}: one of {', '.join(FORMATS)}.")
    scope.check(wanted)
    filters = {name: value for name, value in wanted.filters.items() if value}
    with transaction.atomic():
        report = Report.objects.create(
            format=format_,
            run_id=wanted.run_id,
            period_from=wanted.period_from,
            period_to=wanted.period_to,
            filters=filters,
            requested_by=by,
            pack_delivery=pack_delivery,
        )
        audit.record(
            action="report.requested",
            actor=by,
            object_type="report",
            object_id=report.pk,
            after=_shown(report),
        )
        transaction.on_commit(lambda: task_queue.build_report(report.pk))
    return report


def retry_report(report: Report, *, by) -> Report:
    """Build a failed report again: the same report, with room for as many deliveries again."""
    _require(by, "download_reports", "You may not generate reports.")
    with transaction.atomic():
        taken = Report.objects.filter(pk=report.pk, status=Status.FAILED).update(
            delivery_limit=F("deliveries") + claim_sweep.MAX_DELIVERIES,
            status=Status.QUEUED,
            progress=0,
            phase="queued",
            message="",
            worker="",
            worker_instance="",
            finished_at=None,
        )
        if not taken:
            current = Report.objects.get(pk=report.pk)
            raise ReportRefused(
                f"Report {report.pk} is {current.status}: only a failed build is tried again."
            )
        audit.record(
            action="report.retried",
            actor=by,
            object_type="report",
            object_id=report.pk,
            before={"status": Status.FAILED},
            after={"status": Status.QUEUED},
        )
        transaction.on_commit(lambda: task_queue.build_report(report.pk))
    report.refresh_from_db()
    return report


@dataclass(frozen=True)
class Download:
    file: BinaryIO  # open at its start; the response closes it
    filename: str
    content_type: str
    size: int


def stored_path(report: Report) -> Path:
    return Path(settings.REPORTS_DIR) / report.file_name


def download(report: Report, *, by) -> Download:
    """The report's file, open, once its checksum is verified on that very handle; the
    download is audited."""
    _require(by, "download_reports", "You may not download reports.")
    if report.status != Status.READY:
        raise ReportRefused(
            f"Report {report.pk} is {report.status}: only a ready report is downloaded."
        )
    handle, problem = _opened(report)
    if problem:
        audit.record(action="report.file_damaged", actor=by, object_type="report",
                     object_id=report.pk, after={"problem": problem})  # fmt: skip
        raise ReportFileDamaged(
            f"Report {report.pk}'s stored file {problem}: it was changed or lost after it was "
            "built, so it is not served. Generate the report again."
        )
    audit.record(
        action="report.downloaded",
        actor=by,
        object_type="report",
        object_id=report.pk,
        after={"sha256": report.sha256, "size": report.size},
    )
    rendering = RENDERINGS[report.format]
    return Download(handle, download_name(report), rendering.content_type, report.size)


def _opened(report: Report):
    """(the stored file open at its start, "") or (None, what is wrong with it)."""
    try:
        handle = stored_path(report).open("rb")
    except OSError:
        return None, "is missing"
    problem = _problem(report, handle)
    if problem:
        handle.close()
        return None, problem
    handle.seek(0)
    return handle, ""


def stored_file(report: Report) -> tuple[bytes, str]:
    """The stored file's bytes and "" , or b"" and what is wrong with it (a pack's e-mail)."""
    handle, problem = _opened(report)
    if problem:
        return b"", problem
    with handle:
        return handle.read(), ""


def _problem(report: Report, handle) -> str:
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    if size != report.size:
        return f"has {size} bytes, not the {report.size} it was built with"
    if digest.hexdigest() != report.sha256:
        return "does not match its SHA-256 checksum"
    return ""


def download_name(report: Report) -> str:
    scope = f"run-{report.run_id}" if report.run_id else f"{report.period_from}_{report.period_to}"
    return f"recondesk-report-{report.pk}-{scope}.{RENDERINGS[report.format].extension}"


def expire_reports(now: datetime | None = None) -> int:
    """Delete the files of the reports past their retention, and mark them expired (audited);
    how many. The rows stay: who asked for what, and its checksum, is history."""
    now = now or timezone.now()
    due = list(
        Report.objects.filter(status=Status.READY, expires_at__lte=now).values_list(
            "pk", flat=True
        )[:1000]
    )
    expired = 0
    for pk in due:
        with transaction.atomic():
            report = Report.objects.select_for_update().filter(pk=pk, status=Status.READY).first()
            if report is None:
                continue
            Report.objects.filter(pk=pk).update(status=Status.EXPIRED, phase="expired")
            audit.record(
                action="report.expired",
                object_type="report",
                object_id=pk,
                before={"status": Status.READY, "file": report.file_name},
                after={"status": Status.EXPIRED},
            )
            path = stored_path(report)
            transaction.on_commit(lambda path=path: path.unlink(missing_ok=True))
        expired += 1
    return expired


def _shown(report: Report) -> dict:
    return {
        "format": report.format,
        "run": report.run_id,
        "period_from": str(report.period_from) if report.period_from else None,
        "period_to": str(report.period_to) if report.period_to else None,
        "filters": report.filters,
        "status": report.status,
    }


def write_report_file(
    wanted: Wanted, *, format_: str, output: Path, by_label: str, overwrite: bool = False
) -> tuple[int, str]:
    """Build a report at once in this process and write it to `output` (the command line's
    door, no worker); its size and SHA-256. Audited, as every report built is."""
    from reports.rendering import measure

    if format_ not in FORMATS:
        raise ReportRefused(f"Unknown format {format_!r}: one of {', '.join(FORMATS)}.")
    scope.check(wanted)
    if output.is_dir():
        raise ReportRefused(f"{output} is a folder: give the file to write.")
    if not output.parent.is_dir():
        raise ReportRefused(f"There is no folder {output.parent} to write {output.name} in.")
    if output.exists() and not overwrite:
        raise ReportRefused(f"{output} exists: choose another name, or overwrite it.")
    part = output.with_name(f".{output.name}.part")
    try:
        with collector_paused():  # as a worker builds it (reports/building.py)
            head = _write(wanted, format_, part, by_label)
        size, digest = measure(part)
        part.replace(output)
    finally:
        part.unlink(missing_ok=True)
    audit.record(
        action="report.written",
        object_type="report",
        object_id="",
        after={
            "format": format_,
            "file": str(output),
            "size": size,
            "sha256": digest,
            "run": wanted.run_id,
            "period_from": str(wanted.period_from or ""),
            "period_to": str(wanted.period_to or ""),
            "by": by_label,
            "chain_head": head,
        },
    )
    return size, digest


def _write(wanted: Wanted, format_: str, part: Path, by_label: str) -> int:
    """The report built and laid out into `part`; the chain head's sequence it printed."""
    from reports.content import builder
    from reports.rendering import render

    content = builder.build(wanted, generated_by=by_label)
    with part.open("wb") as out:
        render(format_, content, out)
    return content.chain_head.sequence
