"""What the overview shows (SPEC 6): open breaks by severity, type and age with their value at
risk, breaks found and resolved per day, approvals waiting (and the person's own), the
auto-correction rate, the latest run of each type. Reads only.

The open breaks are read in one grouped statement (by severity, type, run and age bucket: a few
hundred groups among a million breaks); every figure of them is folded from those groups. A
value is in the currency of the run that last saw the break, so values are kept per currency
and never added across currencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from redis.exceptions import RedisError

from accounts.access import has_capability
from audit import selectors as audit_selectors
from corrections.models import Correction
from reconciliation.breaks.filters import SEVERITIES
from reconciliation.engine.types import TYPES
from reconciliation.models import Run

# (older than, newer than) in days; the breaks list's `age` and `within` filters give each.
AGE_BUCKETS = ((0, 1), (1, 3), (3, 7), (7, 30), (30, None))
TREND_DAYS = 14
RATE_DAYS = 30  # the auto-correction rate's window
KEPT_SECONDS = 120  # a minute's figures outlive their minute a little, never longer

OPEN_GROUPS = """
SELECT severity, type, last_seen_run_id,
    CASE WHEN first_seen_at > %(d1)s THEN 0 WHEN first_seen_at > %(d3)s THEN 1
         WHEN first_seen_at > %(d7)s THEN 2 WHEN first_seen_at > %(d30)s THEN 3 ELSE 4 END,
    count(*), count(value_rc), COALESCE(sum(abs(value_rc)), 0)
FROM reconciliation_break
WHERE status IN ('open', 'investigating')
GROUP BY 1, 2, 3, 4
"""
PER_DAY = """
SELECT (moment AT TIME ZONE 'UTC')::date AS day, count(*) FROM (
    SELECT {column} AS moment FROM reconciliation_break WHERE {column} >= %(since)s
) seen GROUP BY 1
"""


@dataclass
class Group:
    """Open breaks sharing one key (a severity, a type or an age bucket)."""

    key: str
    count: int = 0
    unvalued: int = 0
    values: dict[str, Decimal] = field(default_factory=dict)  # {currency: absolute value}

    def add(self, count: int, valued: int, value: Decimal, currency: str) -> None:
        self.count += count
        self.unvalued += count - valued
        if valued:
            self.values[currency] = self.values.get(currency, Decimal(0)) + value


@dataclass(frozen=True)
class OpenBreaks:
    by_severity: list[Group]  # most severe first, every severity
    by_type: list[Group]  # the product's order of types, those with open breaks
    by_age: list[Group]  # youngest first, every bucket
    total: int


@dataclass(frozen=True)
class Day:
    day: date
    found: int
    resolved: int


@dataclass(frozen=True)
class Approvals:
    pending: int
    waiting_for_me: int | None  # None: the person does not approve corrections
    mine_pending: int
    created: int  # in the rate's window
    automatic: int

    @property
    def auto_rate(self) -> Decimal | None:
        if not self.created:
            return None
        return (Decimal(self.automatic * 100) / self.created).quantize(Decimal("0.1"))


def age_label(older: int, newer: int | None) -> str:
    if newer is None:
        return f"over {older} days"
    if older == 0:
        return "under a day"
    return f"{older} to {newer} days"


def break_figures(now: datetime | None = None) -> tuple[OpenBreaks, list[Day], datetime]:
    """The open breaks and the days' counts as of the current minute, and that minute.

    Reading a million breaks takes a few hundred milliseconds, so the figures are kept in the
    cache under the audit chain's head and the minute: every write to the breaks (a run
    storing them, a person changing one) is audited in its own transaction, so a new head
    means new figures, and the minute bounds how long an unaudited change could go unseen.
    The head is read first: figures computed after a later commit are newer than their key,
    never older. Without the cache (Redis down), they are computed each time."""
    as_of = (now or timezone.now()).replace(second=0, microsecond=0)
    sequence, digest = audit_selectors.chain_head()
    key = f"desk:breaks:{sequence}:{digest[:16]}:{as_of:%Y%m%d%H%M}"
    found = _cached(key)
    if found is None:
        found = (open_breaks(as_of), per_day(as_of))
        _keep(key, found)
    return (*found, as_of)


def _cached(key: str):
    try:
        return cache.get(key)
    except RedisError:  # the cache is an aid: without it, compute
        return None


def _keep(key: str, value) -> None:
    try:
        cache.set(key, value, KEPT_SECONDS)
    except RedisError:
        return


def open_breaks(now: datetime | None = None) -> OpenBreaks:
    now = now or timezone.now()
    bounds = {f"d{days}": now - timedelta(days=days) for days in (1, 3, 7, 30)}
    with connection.cursor() as cursor:
        cursor.execute(OPEN_GROUPS, bounds)
        rows = cursor.fetchall()
    currency = _currencies({row[2] for row in rows})
    severity = {name: Group(name) for name in SEVERITIES}
    types: dict[str, Group] = {}
    ages = [Group(age_label(*bucket)) for bucket in AGE_BUCKETS]
    for sev, type_, run_id, bucket, count, valued, value in rows:
        money = currency.get(run_id) or "?"
        severity.setdefault(sev, Group(sev)).add(count, valued, value, money)
        types.setdefault(type_, Group(type_)).add(count, valued, value, money)
        ages[bucket].add(count, valued, value, money)
    order = {name: n for n, name in enumerate(TYPES)}
    return OpenBreaks(
        by_severity=list(severity.values()),
        by_type=sorted(types.values(), key=lambda g: (order.get(g.key, len(order)), g.key)),
        by_age=ages,
        total=sum(g.count for g in severity.values()),
    )


def _currencies(run_ids: set[int]) -> dict[int, str]:
    """{run id: the reporting currency its rule set version values in}."""
    from django.conf import settings

    pairs = Run.objects.filter(pk__in=run_ids).values_list(
        "pk", "rule_set_version__definition__reporting_currency"
    )
    return {pk: code or settings.REPORTING_CURRENCY for pk, code in pairs}


def per_day(now: datetime | None = None, days: int = TREND_DAYS) -> list[Day]:
    """Breaks first seen and breaks resolved on each of the last `days` UTC days, today last."""
    today = (now or timezone.now()).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    counted = {}
    with connection.cursor() as cursor:
        for column in ("first_seen_at", "resolved_at"):
            cursor.execute(PER_DAY.format(column=column), {"since": since})
            counted[column] = dict(cursor.fetchall())
    return [
        Day(day, counted["first_seen_at"].get(day, 0), counted["resolved_at"].get(day, 0))
        for day in (first + timedelta(days=n) for n in range(days))
    ]


def approvals(user, now: datetime | None = None) -> Approvals:
    from corrections import selectors as correction_selectors

    now = now or timezone.now()
    pending = Correction.objects.filter(status=Correction.Status.PENDING)
    waiting = None
    if has_capability(user, "approve_corrections"):
        waiting = correction_selectors.corrections({"mine": "to_approve"}, user=user).count()
    recent = Correction.objects.filter(created_at__gt=now - timedelta(days=RATE_DAYS))
    return Approvals(
        pending=pending.count(),
        waiting_for_me=waiting,
        mine_pending=pending.filter(created_by=user).count(),
        created=recent.count(),
        automatic=recent.filter(auto_approved=True).count(),
    )


def latest_runs() -> list[Run]:
    """The latest run of each type, in the product's order of types."""
    found = {run.type: run for run in Run.objects.order_by("type", "-id").distinct("type")}
    order = {name: n for n, name in enumerate(TYPES)}
    return sorted(found.values(), key=lambda run: order.get(run.type, len(order)))


def any_run_active(runs: list[Run]) -> bool:
    return any(run.is_active for run in runs)
