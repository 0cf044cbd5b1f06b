"""Schedules (SPEC 2.6): periodic runs of the latest datasets, kept in django-celery-beat.

Each Schedule owns one beat PeriodicTask; creating, editing, pausing and deleting a schedule
changes both in one transaction (beat's DatabaseScheduler picks changes up by itself).
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.validators import crontab_validator

from audit import services as audit
from config.errors import DomainError
from reconciliation import run_inputs, runs
from reconciliation.models import Account, Dataset, RuleSet, Run, Schedule, Source

PRESETS = {"hourly": "0 * * * *", "daily": "0 6 * * *", "every 15 minutes": "*/15 * * * *"}


class ScheduleInvalid(DomainError):
    code = "schedule_invalid"


def _crontab(cron: str) -> CrontabSchedule:
    cron = " ".join(cron.split())
    try:
        crontab_validator(cron)
    except ValidationError as exc:
        raise ScheduleInvalid(
            "The timing is not a cron expression.", fields={"cron": [" ".join(exc.messages)]}
        ) from exc
    minute, hour, day_of_month, month_of_year, day_of_week = cron.split(" ")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
        day_of_week=day_of_week, timezone="UTC",
    )  # fmt: skip
    return schedule


def _check(name: str, type_: str, internal: Account, external: Account) -> None:
    problems = {}
    if not name.strip():
        problems["name"] = ["is required"]
    if type_ not in run_inputs.NEEDS:
        problems["type"] = [f"must be one of {', '.join(run_inputs.TYPES)}"]
    if internal.pk == external.pk:
        problems["external_account"] = ["must be another account than the internal one"]
    if problems:
        raise ScheduleInvalid("The schedule is not valid.", fields=problems)


def _snapshot(schedule: Schedule) -> dict:
    return {
        "name": schedule.name, "type": schedule.type, "cron": schedule.cron,
        "enabled": schedule.enabled, "internal": str(schedule.internal_account),
        "external": str(schedule.external_account),
        "prices": schedule.prices_source.code if schedule.prices_source else None,
        "rule_set": schedule.rule_set.name,
    }  # fmt: skip


def save_schedule(
    *,
    name: str,
    type: str,
    internal_account: Account,
    external_account: Account,
    cron: str,
    rule_set: RuleSet,
    prices_source: Source | None = None,
    enabled: bool = True,
    by,
    schedule: Schedule | None = None,
) -> Schedule:
    """Create or change a schedule and its beat task (audited with before and after)."""
    _check(name, type, internal_account, external_account)
    clash = Schedule.objects.filter(name=name.strip())
    if schedule is not None:
        clash = clash.exclude(pk=schedule.pk)
    if clash.exists():
        raise ScheduleInvalid("That name is taken.", fields={"name": ["already exists"]})
    with transaction.atomic():
        crontab = _crontab(cron)
        before = _snapshot(schedule) if schedule else None
        if schedule is None:
            task = PeriodicTask.objects.create(
                name=f"recondesk schedule: {name.strip()}",
                task="reconciliation.run_schedule",
                crontab=crontab,
                enabled=enabled,
            )
            schedule = Schedule(periodic_task=task, created_by=by if by else None)
        fields = {
            "name": name.strip(), "type": type, "internal_account": internal_account,
            "external_account": external_account, "prices_source": prices_source,
            "rule_set": rule_set, "cron": " ".join(cron.split()), "enabled": enabled,
        }  # fmt: skip
        for field, value in fields.items():
            setattr(schedule, field, value)
        schedule.save()
        task = schedule.periodic_task
        task.name, task.crontab, task.enabled = (
            f"recondesk schedule: {schedule.name}",
            crontab,
            enabled,
        )
        task.args = json.dumps([schedule.pk])
        task.save()
        audit.record(action="schedule.saved", actor=by, object_type="schedule",
                     object_id=schedule.pk, before=before, after=_snapshot(schedule))  # fmt: skip
    return schedule


def set_enabled(schedule: Schedule, *, enabled: bool, by) -> Schedule:
    """Pause or resume a schedule."""
    with transaction.atomic():
        Schedule.objects.filter(pk=schedule.pk).update(enabled=enabled)
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(enabled=enabled)
        audit.record(action="schedule.resumed" if enabled else "schedule.paused", actor=by,
                     object_type="schedule", object_id=schedule.pk)  # fmt: skip
    schedule.refresh_from_db()
    return schedule


def delete_schedule(schedule: Schedule, *, by) -> None:
    with transaction.atomic():
        before = _snapshot(schedule)
        task_id, pk = schedule.periodic_task_id, schedule.pk
        schedule.delete()
        PeriodicTask.objects.filter(pk=task_id).delete()
        audit.record(action="schedule.deleted", actor=by, object_type="schedule", object_id=pk,
                     before=before)  # fmt: skip


def _latest(account: Account | None, kinds: set[str], *, source: Source | None = None):
    datasets = Dataset.objects.filter(kind__in=kinds)
    datasets = datasets.filter(account=account) if account else datasets.filter(source=source)
    return datasets.order_by("-as_of", "-id").first()


def run_schedule(schedule_id: int) -> Run | None:
    """Start the schedule's run with the latest datasets (None when paused or not runnable)."""
    schedule = Schedule.objects.select_related("rule_set").filter(pk=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return None
    needs = run_inputs.NEEDS[schedule.type]
    internal_kinds, external_kinds, needs_prices = needs.internal, needs.external, needs.prices
    internal = _latest(schedule.internal_account, internal_kinds)
    external = _latest(schedule.external_account, external_kinds)
    prices = (
        _latest(None, {"prices"}, source=schedule.prices_source) if schedule.prices_source else None
    )
    version = runs.rule_sets.latest_published(schedule.rule_set)
    if internal is None or external is None or version is None or (needs_prices and not prices):
        reason = "no dataset or no published rule set version yet"
        audit.record(action="schedule.skipped", object_type="schedule", object_id=schedule.pk,
                     after={"reason": reason})  # fmt: skip
        return None
    run = runs.start_run(type=schedule.type, internal=internal, external=external, prices=prices,
                         rule_set_version=version)  # fmt: skip
    Schedule.objects.filter(pk=schedule.pk).update(last_run=run)
    return run
