"""Large runs split by asset, their parts' results kept, then merged (SPEC 7.4).

A run whose datasets hold at least `RUN_PARTITION_MIN_ROWS` rows is split into up to
`RUN_PARTITIONS` parts, each a group of assets (an asset's suffixes, DOT.S, go with DOT; a trade
goes with its pair's base), balanced by row count. Every part is a Celery task that any worker
may take: it loads only its assets' rows, runs the same engine, stores its trade matches and
keeps its breaks (as Arrow IPC) on its `RunPartition` row, in one transaction. The part that
finds all parts done merges the breaks and stores them through the same guarded store as a whole
run, so the breaks are the same whether a run was split or not (tested), and only PostgreSQL
and Redis are shared. A split run that fails or is cancelled keeps no matches
(run_execution.finish). This module plans the parts and keeps their results; executing them
(claims, the engine, the merge's store) is reconciliation/runs/execution.py's.

Every step may run twice (a redelivered task, two parts finishing at once): a part is claimed
with a delivery count, its result is written only while it is not done, and the store takes the
run's lock and stores once. A part's claim and a merge's claim record the worker, so that parts
and merges whose worker stopped are handed to another worker (reconciliation/runs/sweep.py);
the claim's count fences what it writes: a part taken over keeps nothing, a merge taken over
stores and ends nothing. `fees` is never split: its totals per fee asset span every pair.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass

import polars as pl
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from reconciliation import arrow_bytes
from reconciliation.datasets import frames
from reconciliation.engine.types import (
    PARTITION_COLUMN,
    RUN_TYPES,
    RunCancelled,
    RunOver,
    RunResult,
    RunSuperseded,
)
from reconciliation.models import Run, RunPartition
from reconciliation.runs import match_store


def should_split(run: Run) -> bool:
    rows = run.internal_dataset.row_count + run.external_dataset.row_count
    return (
        RUN_TYPES[run.type].splits
        and settings.RUN_PARTITIONS > 1
        and rows >= settings.RUN_PARTITION_MIN_ROWS
    )


def plan(run: Run, parts: int) -> list[tuple[list[str], int]]:
    """Assets in up to `parts` groups of about equal rows: [(assets, rows)], largest first."""
    sides = (run.internal_dataset, run.external_dataset)
    # Counted from the datasets' stored frames when both have them (a second for millions of
    # rows), else by queries on the records.
    stored = [frames.stored(dataset, _plan_columns(run, dataset)) for dataset in sides]
    stored_frames = tuple(stored) if all(f is not None for f in stored) else None
    counts = Counter()
    for dataset, frame in zip(sides, stored, strict=True):
        counts.update(frames.rows_by_partition_key(dataset, frame if stored_frames else None))
    units = _units(run, counts, stored_frames)
    size = min(parts, len(units))
    groups: list[list[str]] = [[] for _ in range(size)]
    emptiest = [(0, i) for i in range(size)]  # a heap of (rows, group): linear in the assets
    # Largest unit first into the emptiest group: deterministic, and close to even.
    for assets, rows in sorted(units, key=lambda unit: (-unit[1], unit[0])):
        total, index = heapq.heappop(emptiest)
        groups[index].extend(assets)
        heapq.heappush(emptiest, (total + rows, index))
    totals = dict((index, total) for total, index in emptiest)
    return [(sorted(groups[i]), totals[i]) for i in range(size) if groups[i]]


def _plan_columns(run: Run, dataset) -> list[str]:
    """What planning reads of a stored copy: the partition column, and for trades the ids."""
    column = PARTITION_COLUMN[dataset.kind]
    return [column, "trade_id", "exchange_trade_id"] if run.type == "trades" else [column]


def _units(run: Run, counts: Counter, stored_frames) -> list[tuple[list[str], int]]:
    """Assets that must stay in one part, with their rows: each asset alone, except that trades
    sharing an id across bases (an id match booked under another pair, an id booked twice)
    keep their bases together, so matching by id sees them as a whole run does."""
    parent = {asset: asset for asset in counts}

    def root(asset: str) -> str:
        while parent[asset] != asset:
            asset = parent[asset]
        return asset

    if run.type == "trades":
        shared = frames.bases_sharing_trade_ids(
            run.internal_dataset, run.external_dataset, stored_frames
        )
        for bases in shared:
            first = root(bases[0])
            for other in bases[1:]:
                parent[root(other)] = first
    assets_of: dict[str, list[str]] = {}
    rows_of: Counter = Counter()
    for asset, rows in counts.items():
        assets_of.setdefault(root(asset), []).append(asset)
        rows_of[root(asset)] += rows
    return [(sorted(assets), rows_of[key]) for key, assets in assets_of.items()]


def split(run: Run) -> list[int] | None:
    """Create the run's parts (once); the numbers of those nobody took yet (to be queued), or
    None if the run is no longer running."""
    # Planned before taking the run's lock (its queries take seconds on millions of rows, and a
    # cancel would wait for them); the plan is the same for every delivery.
    planned = plan(run, settings.RUN_PARTITIONS) if not run.partition_count else []
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status != Run.Status.RUNNING:
            return None
        if not locked.partition_count:
            RunPartition.objects.bulk_create(
                RunPartition(run=run, number=n, assets=assets, row_count=rows)
                for n, (assets, rows) in enumerate(planned, start=1)
            )
            Run.objects.filter(pk=run.pk).update(
                partition_count=len(planned), progress=10,
                phase=f"reconciling in {len(planned)} parts",
            )  # fmt: skip
        # Only parts nobody took yet: a part a worker is executing is redelivered by the broker
        # itself if that worker dies (tasks are acknowledged late).
        return list(
            RunPartition.objects.filter(run=run, status=RunPartition.Status.QUEUED).values_list(
                "number", flat=True
            )
        )


def still_held(part: RunPartition) -> bool:
    """Whether the delivery that claimed `part` still holds it (no later one took it over)."""
    return RunPartition.objects.filter(pk=part.pk, deliveries=part.deliveries).exists()


PROGRESS = """
UPDATE reconciliation_run SET progress = %s, phase = %s
WHERE id IN (SELECT id FROM reconciliation_run WHERE id = %s AND status = 'running'
             FOR NO KEY UPDATE SKIP LOCKED)
"""


def keep(part: RunPartition, result: RunResult, engine_ms: int) -> None:
    """Keep the part's breaks and store its matches, once; show how many parts are done."""
    with transaction.atomic(), connection.cursor() as cursor:
        # A shared lock on the run: parts store side by side, while `finish` (which updates the
        # run, then deletes its matches) waits for them, and a part waits for a finish under way
        # and then sees the run ended: it adds nothing to a run that is over.
        cursor.execute(
            "SELECT status, cancel_requested FROM reconciliation_run WHERE id = %s FOR SHARE",
            [part.run_id],
        )
        state = cursor.fetchone()
        if state[0] != Run.Status.RUNNING:
            raise RunOver
        if state[1]:
            raise RunCancelled
        # Only by the delivery holding the part (one taken for dead keeps nothing).
        kept = (
            RunPartition.objects.filter(pk=part.pk, deliveries=part.deliveries)
            .exclude(status=RunPartition.Status.DONE)
            .update(status=RunPartition.Status.DONE,
                    breaks=arrow_bytes.encode(result.breaks, "zstd"),
                    break_count=result.breaks.height, engine_ms=engine_ms,
                    finished_at=timezone.now(), worker_instance="")
        )  # fmt: skip
        if not kept and not RunPartition.objects.filter(pk=part.pk, status="done").exists():
            raise RunSuperseded
        # Parts store their matches in parallel; only the breaks wait for the merge.
        if kept and result.matches is not None:
            matches = match_store.store(cursor, part.run_id, part.number, result.matches)
            RunPartition.objects.filter(pk=part.pk).update(match_count=matches)
    # After the commit, and only if no other part holds the run just now: progress is for
    # people, and waiting for it would queue the parts behind one another.
    done = RunPartition.objects.filter(run_id=part.run_id, status="done").count()
    total = part.run.partition_count
    phase = f"reconciling: {done} of {total} parts done"
    with connection.cursor() as cursor:
        cursor.execute(PROGRESS, [10 + 60 * done // total, phase, part.run_id])


def all_done(run: Run) -> bool:
    return (
        not RunPartition.objects.filter(run=run).exclude(status=RunPartition.Status.DONE).exists()
    )


@dataclass(frozen=True)
class Merged:
    result: RunResult  # every part's breaks, in break key order (matches are stored already)
    match_count: int | None
    engine_ms: int  # the slowest part's: they ran side by side


def merged(run: Run) -> Merged:
    """The kept results of the run's parts, as one run's."""
    rows = list(
        RunPartition.objects.filter(run=run)
        .order_by("number")
        .values_list("breaks", "match_count", "engine_ms")
    )
    breaks = pl.concat([arrow_bytes.decode(b) for b, _, _ in rows], how="vertical_relaxed")
    counts = [count for _, count, _ in rows if count is not None]
    return Merged(
        RunResult(breaks.sort("break_key"), None),
        sum(counts) if counts else None,
        max(ms or 0 for _, _, ms in rows),
    )


def drop_merged(run: Run) -> None:
    """Merged into the run's breaks: no need to keep the parts' breaks twice."""
    RunPartition.objects.filter(run=run).update(breaks=None)
