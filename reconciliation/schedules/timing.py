"""A schedule's timing: five cron fields, read as celery beat reads them, in plain words.

Beat (django-celery-beat's DatabaseScheduler) fires a schedule through celery's `crontab`, so
that is what parses each field here; this module adds the messages a person can act on, the
description in words (cron-descriptor, which django-celery-beat itself uses), and the next
times it fires. Celery joins day of month and weekday with AND ("13 * 5" is Friday the 13th),
unlike classic cron's OR; the next times are computed with the same rule.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from celery.schedules import crontab_parser
from cron_descriptor import Options, get_description

# (name, what it counts, smallest, largest) in the order cron writes them.
FIELDS = (
    ("minute", "minutes", 0, 59),
    ("hour", "hours", 0, 23),
    ("day of month", "days of the month", 1, 31),
    ("month", "months", 1, 12),
    ("weekday", "weekdays", 0, 6),
)
SHORTHANDS = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}  # fmt: skip
EXAMPLES = "'0 6 * * *' every day at 06:00, '*/15 * * * *' every 15 minutes, '0 * * * *' hourly"
# The Gregorian calendar (weekdays included) repeats every 400 years: what does not fire in
# 400 years never fires.
CYCLE_YEARS = 400


class TimingInvalid(ValueError):
    """A cron expression that beat cannot read, or that never fires (message: what to do)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Timing:
    cron: str  # the five fields, single-spaced
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday, as in cron and celery

    def description(self) -> str:
        options = Options()
        options.use_24hour_time_format = True
        return f"{get_description(self.cron, options)} (UTC)"

    def next_times(self, after: datetime, count: int = 3) -> list[datetime]:
        """The next `count` times it fires, strictly after `after` (UTC)."""
        start = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        found: list[datetime] = []
        for day in self._days_from(start.date()):
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if moment >= start:
                        found.append(moment)
                        if len(found) == count:
                            return found
        return found

    def _days_from(self, first: date):
        """The days it fires on, from `first`, for one calendar cycle."""
        for year in range(first.year, first.year + CYCLE_YEARS + 1):
            for month in sorted(self.months):
                last = calendar.monthrange(year, month)[1]
                for day in sorted(d for d in self.days if d <= last):
                    moment = date(year, month, day)
                    # date.weekday(): Monday 0; cron: Sunday 0.
                    if moment >= first and (moment.weekday() + 1) % 7 in self.weekdays:
                        yield moment


def parse(text: str) -> Timing:
    """The timing of a cron expression, or TimingInvalid saying what is wrong and what to write."""
    cron = " ".join(str(text).split())
    cron = SHORTHANDS.get(cron.lower(), cron)
    parts = cron.split(" ") if cron else []
    if len(parts) != len(FIELDS):
        raise TimingInvalid(_count_message(cron, parts))
    values = [_field(part, field) for part, field in zip(parts, FIELDS, strict=True)]
    timing = Timing(" ".join(parts), *values)
    if not timing.next_times(datetime(2000, 1, 1, tzinfo=UTC), 1):
        raise TimingInvalid(_never_message(timing))
    return timing


def _count_message(cron: str, parts: list[str]) -> str:
    wanted = "five fields: minute hour day-of-month month weekday"
    if not parts:
        return f"Write when to run as {wanted} — e.g. {EXAMPLES}."
    if len(parts) < len(FIELDS) and all(_readable(p) for p in parts):
        padded = " ".join(parts + ["*"] * (len(FIELDS) - len(parts)))
        return (
            f"'{cron}' has {len(parts)} field{'s' if len(parts) > 1 else ''}; cron needs {wanted}. "
            f"Did you mean '{padded}'?"
        )
    if len(parts) > len(FIELDS) and all(_readable(p) for p in parts):
        return f"'{cron}' has {len(parts)} fields; write {wanted} (no seconds, no year)."
    return f"'{cron}' is not a cron expression: write {wanted} (times are UTC) — e.g. {EXAMPLES}."


def _readable(part: str) -> bool:
    return all(c.isdigit() or c in "*/,-" for c in part)


def _field(part: str, field: tuple) -> frozenset[int]:
    name, counts, lowest, highest = field
    try:
        values = crontab_parser(highest + 1 - lowest, lowest).parse(part)
    except (ValueError, IndexError, KeyError) as exc:
        names = " or sun-sat" if name == "weekday" else ""
        raise TimingInvalid(
            f"The {name} field '{part}' is not valid: {counts} run from {lowest} to {highest}"
            f"{names}; use a number, a range (1-5), a list (1,15), a step (*/15) or *."
            f"{' (0 is Sunday.)' if name == 'weekday' else ''}"
        ) from exc
    if not values or min(values) < lowest or max(values) > highest:
        raise TimingInvalid(f"The {name} field '{part}' is out of range: {counts} run from "
                            f"{lowest} to {highest}.")  # fmt: skip
    return frozenset(values)


def _never_message(timing: Timing) -> str:
    months = ", ".join(calendar.month_name[m] for m in sorted(timing.months))
    days = ", ".join(str(d) for d in sorted(timing.days))
    return (
        f"'{timing.cron}' never fires: day {days} of the month never occurs in {months}. "
        "Choose a day that every chosen month has (or * for every day)."
    )
