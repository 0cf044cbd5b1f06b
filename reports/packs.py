"""Report packs: a period's reports in several formats, built on a schedule (beat) and sent in
one e-mail once all are built; kept on the reports page like any other report.

A beat firing creates the pack's delivery for its period once (a second firing for the same
period finds it), queues one report per format, and the build that ends last sends the e-mail:
the delivery moves from building to sent (or failed) in one guarded update, so exactly one
build sends it.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.access import has_capability
from audit import services as audit
from config.errors import DomainError
from reconciliation.engine.rule_definition import SEVERITIES
from reconciliation.engine.types import TYPES
from reconciliation.schedules import services as schedules
from reports import services, task_queue
from reports.models import FORMATS, PackDelivery, Report, ReportPack
from reports.scope import Wanted

logger = logging.getLogger(__name__)
MAX_RECIPIENTS = 20


class PackInvalid(DomainError):
    code = "report_pack_invalid"


class PackRefused(DomainError):
    code = "report_pack_refused"


def _require(by) -> None:
    if not has_capability(by, "download_reports"):
        raise services.NotAllowed("You may not schedule reports.")


def _checked(name, formats, period, recipients, filters) -> dict:
    problems: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        problems["name"] = ["is required"]
    formats = list(dict.fromkeys(formats or []))
    if not formats or set(formats) - set(FORMATS):
        problems["formats"] = [f"choose one or more of {', '.join(FORMATS)}"]
    if period not in ReportPack.Period.values:
        problems["period"] = [f"one of {', '.join(ReportPack.Period.values)}"]
    addresses = [r.strip() for r in recipients or [] if r.strip()]
    bad = []
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if not addresses or len(addresses) > MAX_RECIPIENTS or bad:
        problems["recipients"] = [
            f"not e-mail addresses: {', '.join(bad)}"
            if bad
            else f"give 1 to {MAX_RECIPIENTS} e-mail addresses"
        ]
    filters = {k: (v or "").strip() for k, v in (filters or {}).items() if (v or "").strip()}
    if set(filters) - {"source", "type", "account", "severity"}:
        problems["filters"] = ["only source, type, account and severity"]
    if filters.get("type") and filters["type"] not in TYPES:
        problems["filters"] = [f"type is one of {', '.join(TYPES)}"]
    if filters.get("severity") and filters["severity"] not in SEVERITIES:
        problems["filters"] = [f"severity is one of {', '.join(SEVERITIES)}"]
    if problems:
        first = next(iter(problems.items()))
        raise PackInvalid(f"The pack is not saved: {first[0]} {first[1][0]}.", fields=problems)
    return {
        "name": name,
        "formats": formats,
        "period": period,
        "recipients": addresses,
        "filters": filters,
    }


def save_pack(
    *,
    name: str,
    formats: list[str],
    period: str,
    recipients: list[str],
    cron: str,
    filters: dict | None = None,
    enabled: bool = True,
    by,
    pack: ReportPack | None = None,
) -> ReportPack:
    """Create or change a pack and its beat task (audited with before and after)."""
    _require(by)
    fields = _checked(name, formats, period, recipients, filters)
    cron = " ".join((cron or "").split())
    if len(cron) > 100:
        raise PackInvalid("The pack is not saved: cron is longer than 100 characters.",
                          fields={"cron": ["at most 100 characters"]})  # fmt: skip
    try:
        schedules.timing(cron)  # refused before anything is written
    except schedules.ScheduleInvalid as invalid:
        raise PackInvalid(invalid.message, fields=invalid.fields) from None
    clash = ReportPack.objects.filter(name=fields["name"])
    if pack is not None:
        clash = clash.exclude(pk=pack.pk)
    if clash.exists():
        raise PackInvalid("That name is taken.", fields={"name": ["already exists"]})
    try:
        return _saved(pack, fields, cron, enabled, by)
    except IntegrityError:  # the same name saved at the same moment by someone else
        raise PackInvalid("That name is taken.", fields={"name": ["already exists"]}) from None


def _saved(pack: ReportPack | None, fields: dict, cron: str, enabled: bool, by) -> ReportPack:
    with transaction.atomic():
        crontab = schedules.beat_crontab(cron)
        before = _snapshot(pack) if pack else None
        if pack is None:
            task = PeriodicTask.objects.create(
                name=f"recondesk report pack: {fields['name']}",
                task=task_queue.DELIVER_PACK,
                crontab=crontab,
                enabled=enabled,
            )
            pack = ReportPack(periodic_task=task, created_by=audit.acting_user(by))
        for field, value in fields.items():
            setattr(pack, field, value)
        pack.cron, pack.enabled = cron, enabled
        pack.save()
        task = pack.periodic_task
        task.name, task.crontab, task.enabled = (
            f"recondesk report pack: {pack.name}",
            crontab,
            enabled,
        )
        task.args = json.dumps([pack.pk])
        task.save()
        audit.record(
            action="report_pack.saved",
            actor=by,
            object_type="report_pack",
            object_id=pack.pk,
            before=before,
            after=_snapshot(pack),
        )
    return pack


def set_enabled(pack: ReportPack, *, enabled: bool, by) -> ReportPack:
    _require(by)
    with transaction.atomic():
        ReportPack.objects.filter(pk=pack.pk).update(enabled=enabled)
        PeriodicTask.objects.filter(pk=pack.periodic_task_id).update(enabled=enabled)
        audit.record(
            action="report_pack.resumed" if enabled else "report_pack.paused",
            actor=by,
            object_type="report_pack",
            object_id=pack.pk,
        )
    pack.refresh_from_db()
    return pack


def delete_pack(pack: ReportPack, *, by) -> None:
    """Delete a pack never delivered; one with deliveries is history: pause it instead."""
    _require(by)
    with transaction.atomic():
        if PackDelivery.objects.filter(pack=pack).exists():
            raise PackRefused(
                f"Pack '{pack.name}' has been delivered: its deliveries are "
                "history, so it is kept. Pause it instead."
            )
        before, task_id, pk = _snapshot(pack), pack.periodic_task_id, pack.pk
        pack.delete()
        PeriodicTask.objects.filter(pk=task_id).delete()
        audit.record(
            action="report_pack.deleted",
            actor=by,
            object_type="report_pack",
            object_id=pk,
            before=before,
        )


def period_of(period: str, today: date) -> tuple[date, date]:
    """The days (inclusive) a pack firing on `today` covers."""
    if period == ReportPack.Period.PREVIOUS_DAY:
        return today - timedelta(days=1), today - timedelta(days=1)
    if period == ReportPack.Period.PREVIOUS_WEEK:
        return today - timedelta(days=7), today - timedelta(days=1)
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def deliver(pack_id: int, *, now: datetime | None = None) -> PackDelivery | None:
    """The pack's delivery for the period ending before `now`: created with its reports
    queued, once (None: the pack is gone or paused, or this period was delivered already)."""
    pack = ReportPack.objects.select_related("created_by").filter(pk=pack_id).first()
    if pack is None or not pack.enabled:
        return None
    first, last = period_of(pack.period, (now or timezone.now()).date())
    try:
        with transaction.atomic():
            delivery = PackDelivery.objects.create(
                pack=pack, period_from=first, period_to=last, recipients=list(pack.recipients)
            )
            for format_ in pack.formats:
                services.request_report(
                    Wanted(period_from=first, period_to=last, filters=dict(pack.filters)),
                    format_=format_,
                    by=pack.created_by,
                    pack_delivery=delivery,
                )
            audit.record(
                action="report_pack.fired",
                object_type="report_pack",
                object_id=pack.pk,
                after={"period": f"{first}..{last}", "formats": pack.formats},
            )
    except IntegrityError:
        return None  # that period's delivery exists (a second beat, a restart)
    return delivery


def send_when_built(delivery_id: int) -> bool:
    """Send the delivery's e-mail if all its reports have ended and nobody sent it; whether
    this call sent it."""
    reports = list(Report.objects.filter(pack_delivery_id=delivery_id).order_by("id"))
    if any(r.is_active for r in reports):
        return False
    ready = [r for r in reports if r.status == Report.Status.READY]
    status = PackDelivery.Status.SENT if ready else PackDelivery.Status.FAILED
    with transaction.atomic():
        taken = PackDelivery.objects.filter(
            pk=delivery_id, status=PackDelivery.Status.BUILDING
        ).update(
            status=status,
            sent_at=timezone.now() if ready else None,
            message="" if ready else "no report of the pack could be built",
        )
        if not taken:
            return False
        delivery = PackDelivery.objects.select_related("pack").get(pk=delivery_id)
        audit.record(
            action=f"report_pack.{status}",
            object_type="report_pack",
            object_id=delivery.pack_id,
            after={"delivery": delivery_id, "reports": [r.pk for r in reports]},
        )
        if ready:
            transaction.on_commit(lambda: _mail(delivery, reports))
    return True


def _mail(delivery: PackDelivery, reports: list[Report]) -> None:
    """Send the delivery's e-mail; if anything stops it (the mail server, a file), the
    delivery says so instead of "sent"."""
    try:
        _message(delivery, reports).send()
    except Exception as failure:
        logger.exception("report pack delivery %s: sending the e-mail failed", delivery.pk)
        PackDelivery.objects.filter(pk=delivery.pk).update(
            status=PackDelivery.Status.FAILED, sent_at=None, message=f"sending failed: {failure}"
        )


def _message(delivery: PackDelivery, reports: list[Report]) -> EmailMessage:
    pack = delivery.pack
    lines = [
        f"Recondesk report pack '{pack.name}', {delivery.period_from} to "
        f"{delivery.period_to} (UTC).",
        "",
    ]
    message = EmailMessage(
        subject=f"Recondesk: {pack.name}, {delivery.period_from} to {delivery.period_to}",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=delivery.recipients,
    )
    room = settings.REPORT_EMAIL_ATTACH_MAX_BYTES
    for report in reports:
        link = settings.SITE_URL + reverse("reports:detail", args=[report.pk])
        name = report.get_format_display()
        if report.status != Report.Status.READY:
            lines.append(f"- {name}: failed ({report.message}) {link}")
            continue
        described = f"{report.size:,} bytes, SHA-256 {report.sha256}"
        if report.size > room:
            lines.append(f"- {name}: {described}, too large to attach; {link}")
            continue
        data, problem = services.stored_file(
            report
        )  # checked against its checksum, as a download is
        if problem:
            lines.append(f"- {name}: not attached, its stored file {problem}; {link}")
            continue
        room -= report.size
        message.attach(services.download_name(report), data)
        lines.append(f"- {name}: {described}, attached; {link}")
    lines += [
        "",
        "Each file's SHA-256 is the one Recondesk stored: compare it before relying "
        "on a file received by e-mail.",
    ]
    message.body = "\n".join(lines)
    return message


def _snapshot(pack: ReportPack) -> dict:
    return {
        "name": pack.name,
        "formats": pack.formats,
        "period": pack.period,
        "recipients": pack.recipients,
        "filters": pack.filters,
        "cron": pack.cron,
        "enabled": pack.enabled,
    }
