"""Large runs split by asset and executed by several workers, then merged (SPEC 7.4).

A run whose datasets hold at least `RUN_PARTITION_MIN_ROWS` rows is split into up to
`RUN_PARTITIONS` parts, each a group of assets (an asset's suffixes, DOT.S, go with DOT; a trade
goes with its pair's base), balanced by row count. Every part is a Celery task that any worker
may take: it loads only its assets' rows, runs the same engine, stores its trade matches and
keeps its breaks (as Arrow IPC) on its `RunPartition` row, in one transaction. The part that
finds all parts done merges the breaks and stores them through the same guarded store as a whole
run, so the breaks are the same whether a run was split or not (tested), and only PostgreSQL
and Redis are shared. A split run that fails or is cancelled keeps no matches (runs.finish).

Every step may run twice (a redelivered task, two parts finishing at once): a part is claimed
with a delivery count, its result is written only while it is not done, and the store takes the
run's lock and stores once. A part's claim and a merge's claim record the worker, so that parts
and merges whose worker stopped are handed to another worker (reconciliation/run_sweep.py);
the claim's count fences what it writes: a part taken over keeps nothing, a merge taken over
stores and ends nothing. `fees` is never split: its totals per fee asset span every pair.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import Counter

import polars as pl
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from reconciliation import arrow_bytes, frames, match_store
from reconciliation.break_store import RunCancelled, RunOver, RunResult, RunSuperseded
from reconciliation.engine import rule_definition
from reconciliation.engine.types import empty_breaks
from reconciliation.models import Run, RunPartition

logger = logging.getLogger(__name__)
# Not split: `fees` (its totals per fee asset span every pair) and `pnl` (a part would not see the
# book's periods of the other parts' assets, where unbooked PnL is looked for).
SPLIT_TYPES = {"position", "cash", "valuation", "trades", "margin"}


def should_split(run: Run) -> bool:
    rows = run.internal_dataset.row_count + run.external_dataset.row_count
    return (
        run.type in SPLIT_TYPES
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
    column = frames.PARTITION_COLUMN[dataset.kind]
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


def split(run: Run, claim=None, *, worker: str = "") -> str:
    """Create the run's parts (once) and queue those not done; the run stays running.

    Then the run is held by its parts, not by this delivery: its claim is released.
    """
    # Planned before taking the run's lock (its queries take seconds on millions of rows, and a
    # cancel would wait for them); the plan is the same for every delivery.
    planned = plan(run, settings.RUN_PARTITIONS) if not run.partition_count else []
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status != Run.Status.RUNNING:
            return locked.status
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
        waiting = list(
            RunPartition.objects.filter(run=run, status=RunPartition.Status.QUEUED).values_list(
                "number", flat=True
            )
        )
        transaction.on_commit(lambda: _enqueue(run.pk, waiting))
    # After the parts are sent: a worker dying before this line leaves the run claimed, and the
    # sweep sends it again (which sends the waiting parts again, each claimed with a count).
    held = claim.held() if claim else {}
    Run.objects.filter(pk=run.pk, **held).update(worker="", worker_instance="")
    if not waiting:  # redelivered after the parts were taken: the merge may be what is missing
        return merge_when_done(run.pk, worker=worker)
    return Run.Status.RUNNING


def _enqueue(run_id: int, numbers: list[int]) -> None:
    from reconciliation.tasks import execute_partition

    for number in numbers:
        execute_partition.delay(run_id, number)


def _claim(run_id: int, number: int, worker: str) -> RunPartition | None:
    """Mark the part running, count this delivery and record who holds it; None if nothing to
    do."""
    from reconciliation import runs

    claimed = RunPartition.objects.filter(
        run_id=run_id, number=number, run__status=Run.Status.RUNNING,
        status__in=[RunPartition.Status.QUEUED, RunPartition.Status.RUNNING],
    ).update(status=RunPartition.Status.RUNNING, deliveries=F("deliveries") + 1,
             started_at=timezone.now(), **runs.claimant(worker))  # fmt: skip
    if not claimed:
        return None
    return RunPartition.objects.select_related(
        "run__internal_dataset__account", "run__external_dataset__account",
        "run__prices_dataset", "run__rule_set_version",
    ).get(run_id=run_id, number=number)  # fmt: skip


def _check_cancel(run_id: int, part: RunPartition | None = None) -> None:
    """Stop if the run ended or a cancel was asked (or, for a `part`, another delivery took it)."""
    state = Run.objects.filter(pk=run_id).values_list("status", "cancel_requested").first()
    if state is None or state[0] != Run.Status.RUNNING:
        raise RunOver
    if part is not None and not _still_held(part):
        raise RunSuperseded
    if state[1]:
        raise RunCancelled


def _still_held(part: RunPartition) -> bool:
    return RunPartition.objects.filter(pk=part.pk, deliveries=part.deliveries).exists()


def execute_partition(run_id: int, number: int, *, worker: str = "") -> str:
    """Reconcile one part of a run; the part that completes the set merges and stores them."""
    from reconciliation import runs

    part = _claim(run_id, number, worker)
    if part is None:
        # Done already (this is a redelivery, or a merge handed back) or the run is over: finish
        # what may be left.
        return merge_when_done(run_id, worker=worker)
    run = part.run
    claim = runs.Claim.of_part(number, part.deliveries)
    if part.deliveries > runs.MAX_DELIVERIES:
        return runs.give_up(run, f"Part {number} of the run", claim)
    with runs.failures_recorded(run, claim) as outcome:
        _check_cancel(run_id, part)
        inputs = runs.load_inputs(run, assets=part.assets)
        definition = rule_definition.validate(run.rule_set_version.definition)
        started = time.perf_counter()
        from reconciliation import run_engine

        result = run_engine.reconcile(run, inputs, definition)
        engine_ms = int((time.perf_counter() - started) * 1000)
        _check_cancel(run_id, part)
        _keep(part, result, engine_ms)
        outcome.status = merge_when_done(run_id, worker=worker)
    return outcome.status


PROGRESS = """
UPDATE reconciliation_run SET progress = %s, phase = %s
WHERE id IN (SELECT id FROM reconciliation_run WHERE id = %s AND status = 'running'
             FOR NO KEY UPDATE SKIP LOCKED)
"""


def _keep(part: RunPartition, result: RunResult, engine_ms: int) -> None:
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


def merge_when_done(run_id: int, *, worker: str = "") -> str:
    """If every part is done and the run not yet stored: merge the parts, store, finish.

    The merge claims the run (its merge count, and `worker`): a merge whose worker stops is
    handed to another worker, and a merge superseded so stores and ends nothing.
    """
    from reconciliation import runs

    run = Run.objects.select_related(
        "internal_dataset__account", "external_dataset__account", "rule_set_version"
    ).get(pk=run_id)
    if run.status != Run.Status.RUNNING or not run.partition_count:
        return run.status
    parts = RunPartition.objects.filter(run=run)
    if parts.exclude(status=RunPartition.Status.DONE).exists():
        return Run.Status.RUNNING
    Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).update(
        merges=F("merges") + 1, **runs.claimant(worker)
    )
    claim = runs.Claim.of("merges", Run.objects.get(pk=run_id).merges)
    if run.break_count is not None:  # stored by a merge whose worker died before finishing
        return runs.store_and_finish(run, RunResult(empty_breaks()), engine_ms=0, claim=claim)
    if claim.held()["merges"] > runs.MAX_DELIVERIES:
        return runs.give_up(run, "Merging the run's parts", claim)
    with runs.failures_recorded(run, claim) as outcome:
        _check_cancel(run_id)
        Run.objects.filter(pk=run_id, status=Run.Status.RUNNING, **claim.held()).update(
            progress=75, phase="merging parts"
        )
        rows = list(parts.order_by("number").values_list("breaks", "match_count", "engine_ms"))
        breaks = pl.concat([arrow_bytes.decode(b) for b, _, _ in rows], how="vertical_relaxed")
        counts = [count for _, count, _ in rows if count is not None]
        result = RunResult(breaks.sort("break_key"), None)
        engine_ms = max(ms or 0 for _, _, ms in rows)
        outcome.status = runs.store_and_finish(
            run,
            result,
            engine_ms=engine_ms,
            match_count=sum(counts) if counts else None,
            claim=claim,
        )
    if outcome.status == Run.Status.SUCCEEDED:
        parts.update(breaks=None)  # merged into the run's breaks: no need to keep them twice
    return outcome.status
