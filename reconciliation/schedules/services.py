"""Schedules (SPEC 2.6): periodic runs of the latest datasets, kept in django-celery-beat.

Each Schedule owns one beat PeriodicTask; creating, editing, pausing and deleting a schedule
changes both in one transaction (beat's DatabaseScheduler picks changes up by itself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.validators import crontab_validator

from audit import services as audit
from config.errors import DomainError
from reconciliation import selectors, task_queue
from reconciliation.models import Account, Dataset, RuleSet, Run, Schedule, Source
from reconciliation.runs import inputs as run_inputs
from reconciliation.runs import services as runs
from reconciliation.schedules import timing as schedule_timing

PRESETS = {"hourly": "0 * * * *", "daily": "0 6 * * *", "every 15 minutes": "*/15 * * * *"}


class ScheduleInvalid(DomainError):
    code = "schedule_invalid"


def timing(cron: str) -> schedule_timing.Timing:
    """The cron expression as beat reads it, or ScheduleInvalid saying what to write."""
    try:
        found = schedule_timing.parse(cron)
        crontab_validator(found.cron)  # what django-celery-beat's own forms accept, too
    except schedule_timing.TimingInvalid as exc:
        raise ScheduleInvalid(exc.message, fields={"cron": [exc.message]}) from exc
    except ValidationError as exc:
        message = f"Beat cannot read '{found.cron}': {' '.join(exc.messages)}"
        raise ScheduleInvalid(message, fields={"cron": [message]}) from exc
    return found


def _crontab(found: schedule_timing.Timing) -> CrontabSchedule:
    minute, hour, day_of_month, month_of_year, day_of_week = found.cron.split(" ")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
        day_of_week=day_of_week, timezone="UTC",
    )  # fmt: skip
    return schedule


def beat_crontab(cron: str) -> CrontabSchedule:
    """Beat's crontab for the cron expression (ScheduleInvalid if beat cannot read it)."""
    return _crontab(timing(cron))


def _check(
    name: str,
    type_: str,
    internal: Account,
    external: Account,
    prices_source: Source | None,
    cron: str,
    rule_set: RuleSet,
) -> schedule_timing.Timing:
    """What a schedule runs must be able to run: the same fitting rules as a run's (item 6)."""
    problems = {}
    unpublished = _unpublished_problem(rule_set)
    if unpublished:
        problems["rule_set"] = [unpublished]
    if not name.strip():
        problems["name"] = ["is required"]
    if type_ not in run_inputs.RUN_TYPES:
        problems["type"] = [f"must be one of {', '.join(run_inputs.TYPES)}"]
    for field, side, account in (
        ("internal_account", "internal", internal), ("external_account", "external", external)
    ):  # fmt: skip
        problem = run_inputs.account_problem(side, account)
        if problem:
            problems[field] = [problem]
    if internal.pk == external.pk:
        problems["external_account"] = ["must be another account than the internal one"]
    if prices_source is not None and run_inputs.prices_source_problem(prices_source):
        problems["prices_source"] = [run_inputs.prices_source_problem(prices_source)]
    try:
        found = timing(cron)
    except ScheduleInvalid as exc:
        problems.update(exc.fields)
    if problems:
        raise ScheduleInvalid("The schedule cannot run that way.", fields=problems)
    return found


def _unpublished_problem(rule_set: RuleSet) -> str | None:
    """Without a published version every firing would be skipped, so say where to publish."""
    if selectors.latest_published(rule_set) is not None:
        return None
    draft = rule_set.versions.filter(status="draft").order_by("-number").first()
    where = reverse("rules:version", args=[draft.pk]) if draft else reverse("rules:list")
    return (
        f"Rule set '{rule_set.name}' has no published version, so this schedule would never "
        f"run: publish one first on {where}"
    )


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
    found = _check(name, type, internal_account, external_account, prices_source, cron, rule_set)
    clash = Schedule.objects.filter(name=name.strip())
    if schedule is not None:
        clash = clash.exclude(pk=schedule.pk)
    if clash.exists():
        raise ScheduleInvalid("That name is taken.", fields={"name": ["already exists"]})
    with transaction.atomic():
        crontab = _crontab(found)
        before = _snapshot(schedule) if schedule else None
        if schedule is None:
            task = PeriodicTask.objects.create(
                name=f"recondesk schedule: {name.strip()}",
                task=task_queue.RUN_SCHEDULE,
                crontab=crontab,
                enabled=enabled,
            )
            schedule = Schedule(periodic_task=task, created_by=audit.acting_user(by))
        fields = {
            "name": name.strip(), "type": type, "internal_account": internal_account,
            "external_account": external_account, "prices_source": prices_source,
            "rule_set": rule_set, "cron": found.cron, "enabled": enabled,
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
    """Start the schedule's run with the latest datasets (None when paused or not runnable).

    Without a price feed (or before it has prices) the run takes the latest prices dataset,
    as every run does, and records which.
    """
    schedule = Schedule.objects.select_related("rule_set").filter(pk=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return None
    needs = run_inputs.RUN_TYPES[schedule.type]
    internal = _latest(schedule.internal_account, needs.internal)
    external = _latest(schedule.external_account, needs.external)
    prices = (
        _latest(None, {"prices"}, source=schedule.prices_source) if schedule.prices_source else None
    )
    version = selectors.latest_published(schedule.rule_set)
    if internal is None or external is None or version is None:
        return _skipped(schedule, "no dataset or no published rule set version yet")
    try:
        run = runs.start_run(type=schedule.type, internal=internal, external=external,
                             prices=prices, rule_set_version=version)  # fmt: skip
    except runs.RunRefused as exc:  # a schedule saved before its sides were checked
        details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
        return _skipped(schedule, f"{exc.message} {details}".strip())
    Schedule.objects.filter(pk=schedule.pk).update(last_run=run)
    return run


def _skipped(schedule: Schedule, reason: str) -> None:
    audit.record(action="schedule.skipped", object_type="schedule", object_id=schedule.pk,
                 after={"reason": reason})  # fmt: skip
    return None


@dataclass(frozen=True)
class TimingShown:
    """A cron expression as a person reads it: in words and its next times, or what is wrong."""

    cron: str
    words: str = ""
    next_times: tuple = ()
    problem: str = ""


def describe(cron: str, *, now=None, count: int = 3) -> TimingShown:
    try:
        found = timing(cron)
    except ScheduleInvalid as exc:
        return TimingShown(cron=cron, problem=exc.message)
    moments = found.next_times(now or timezone.now(), count)
    return TimingShown(cron=found.cron, words=found.description(), next_times=tuple(moments))
