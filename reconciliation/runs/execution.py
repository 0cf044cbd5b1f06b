"""Executing runs (SPEC 2.4) on a worker, whole and in parts alike: claim, reconcile, store, end.

A run's task may be delivered more than once (a worker died, Redis redelivered it). Execution is
therefore a sequence of guarded steps: claiming the run (or a part of it) counts a delivery (the
third failed one fails the run), the engine is pure and deterministic, and all results are
stored in one transaction that first checks the run is still running and unstored. A redelivered
task either finds the run finished and does nothing, or computes the same results again.

A claim also records the worker (name and process instance): if that worker stops sending
heartbeats, a sweep hands the run to another worker within a minute (reconciliation/runs/sweep.py)
instead of Redis doing so after hours. The delivery count is the claim's fencing number: the
progress, store and finish steps of a delivery act only while the run still carries its number,
so a worker thought dead that comes back stops instead of storing over the newer delivery.

A large run is split into parts (reconciliation/runs/partitions.py plans them and keeps their
results): each part is claimed and reconciled here like a whole run, on its assets only, and the
part that completes the set merges them and stores the breaks as a whole run does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from audit import services as audit
from config import claim_sweep
from config.errors import DomainError
from reconciliation import task_queue
from reconciliation.engine import rule_definition
from reconciliation.engine.types import (
    RunCancelled,
    RunOver,
    RunResult,
    RunSuperseded,
    empty_breaks,
)
from reconciliation.models import Run, RunPartition
from reconciliation.runs import break_store, match_store, metrics, partitions, signals
from reconciliation.runs import engine_adapter as run_engine
from reconciliation.runs import inputs as run_inputs

logger = logging.getLogger(__name__)
MAX_DELIVERIES = claim_sweep.MAX_DELIVERIES


@dataclass(frozen=True)
class Claim:
    """A delivery's hold on a run: lookups on the run that stay true while it holds the run.

    A whole run is held by its delivery count, a split run's merge by its merge count, a part by
    the part's delivery count. Steps given a claim act only while the run still matches them
    (a later claim, made when this delivery's worker was taken for dead, supersedes it).
    """

    lookups: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, counter: str, number: int) -> Claim:
        return cls(((counter, number),))

    @classmethod
    def of_part(cls, number: int, deliveries: int) -> Claim:
        return cls((("partitions__number", number), ("partitions__deliveries", deliveries)))

    def held(self) -> dict:
        return dict(self.lookups)


@dataclass
class Progress:
    run_id: int
    claim: Claim | None = None

    def __call__(self, percent: int, phase: str) -> None:
        """Record progress; stop if a cancel was requested or another delivery took over."""
        held = self.claim.held() if self.claim else {}
        updated = Run.objects.filter(pk=self.run_id, status=Run.Status.RUNNING, **held).update(
            progress=percent, phase=phase
        )
        if not updated and self.claim is not None:
            raise RunSuperseded  # or ended: either way this delivery has nothing more to do
        if Run.objects.filter(pk=self.run_id, cancel_requested=True).exists():
            raise RunCancelled


def _status(run_id: int) -> str | None:
    return Run.objects.filter(pk=run_id).values_list("status", flat=True).first()


# --- The steps every delivery takes --------------------------------------------------------------


def claim_delivery(rows: QuerySet, worker: str, **also) -> bool:
    """The delivery claim, of a run or of a part (`rows`: it alone): mark it running, count this
    delivery and record who holds it (and `also`); False if it is neither queued nor running."""
    return bool(
        rows.filter(status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).update(
            status=Run.Status.RUNNING,
            deliveries=F("deliveries") + 1,
            **claim_sweep.claimant(worker),
            **also,
        )
    )


def reconcile(run: Run, step: Callable[[int, str], None], assets: list[str] | None = None):
    """The engine call, for a whole run or (with `assets`) a part: (RunResult, engine ms).

    `step(percent, phase)` is called between steps, to show progress or stop.
    """
    step(5, "loading datasets")
    inputs = run_inputs.load_inputs(run, assets=assets)
    step(30, "reconciling")
    definition = rule_definition.validate(run.rule_set_version.definition)
    started = time.perf_counter()
    result = run_engine.reconcile(run, inputs, definition)
    return result, int((time.perf_counter() - started) * 1000)


def give_up(run: Run, what: str, claim: Claim | None = None) -> str:
    """Fail a run one of whose steps keeps dying (a worker killed each time, out of memory)."""
    message = (
        f"{what} was started {MAX_DELIVERIES} times without finishing (its worker stopped "
        "each time, perhaps for lack of memory); the run was given up. Start it again."
    )
    finish(run, Run.Status.FAILED, message, claim=claim)
    return Run.Status.FAILED


def finish(run: Run, status_: str, message: str = "", *, claim: Claim | None = None) -> bool:
    """End a running run once; False if it had already ended (then nothing is recorded).

    A run whose results are stored can only succeed: its breaks have been merged, and a late
    cancel or failure (a second merge, a redelivered task) must not say otherwise. With a
    `claim`, only while the run still has that claim's number (no later delivery took over).
    """
    held = claim.held() if claim else {}
    with transaction.atomic():
        running = Run.objects.select_for_update(of=("self",)).filter(
            pk=run.pk, status=Run.Status.RUNNING, **held
        )
        held_run = running.values("break_count", "type", "started_at", "by_severity").first()
        stored = held_run is not None and held_run["break_count"] is not None
        if stored and status_ != Run.Status.SUCCEEDED:
            status_, message = Run.Status.SUCCEEDED, ""
        now = timezone.now()
        ended = running.update(
            status=status_, message=message, finished_at=now, worker="",
            worker_instance="", phase=status_,
            progress=100 if status_ == Run.Status.SUCCEEDED else F("progress"),
        )  # fmt: skip
        if ended and status_ != Run.Status.SUCCEEDED:
            # Parts of a split run store their matches as they finish: a run that did not
            # succeed keeps none.
            with connection.cursor() as cursor:
                match_store.delete(cursor, run.pk)
        if ended:
            audit.record(action=f"run.{status_}", object_type="run", object_id=run.pk,
                         after={"message": message} if message else None)  # fmt: skip
        if ended:
            # Counted once the end is committed (a rolled-back end is not an end); a figure
            # that cannot be written is logged, and the run's end stands.
            transaction.on_commit(lambda: metrics.run_ended(
                type_=held_run["type"], status=status_, started_at=held_run["started_at"],
                finished_at=now, by_severity=held_run["by_severity"],
            ), robust=True)  # fmt: skip
        if ended and status_ == Run.Status.SUCCEEDED:
            run_id = run.pk
            transaction.on_commit(lambda: signals.run_succeeded.send(sender=Run, run_id=run_id))
        if ended and status_ == Run.Status.FAILED:
            run_id = run.pk
            transaction.on_commit(lambda: signals.run_failed.send(sender=Run, run_id=run_id))
    return bool(ended)


@dataclass
class Outcome:
    status: str = Run.Status.RUNNING


@contextmanager
def failures_recorded(run: Run, claim: Claim | None = None):
    """Turn a cancel or an error inside the block into the run's end, with a message to act on.

    With a `claim`, a delivery that another took over ends nothing (the newer one decides).
    """
    outcome = Outcome()
    try:
        yield outcome
        return
    except RunOver:
        pass
    except RunCancelled:
        finish(run, Run.Status.CANCELLED, "Cancelled on request.", claim=claim)
    except DomainError as exc:
        finish(run, Run.Status.FAILED, exc.message, claim=claim)
    except Exception as exc:
        logger.exception("run %s failed", run.pk)
        finish(run, Run.Status.FAILED, f"Unexpected error ({type(exc).__name__}); it is logged "
               "with the run id. Retry, or report it if it happens again.",
               claim=claim)  # fmt: skip
    # How the run ended (a run whose results were stored meanwhile ends as succeeded).
    outcome.status = _status(run.pk)


def store_and_finish(
    run: Run,
    result: RunResult,
    *,
    engine_ms: int,
    match_count: int | None = None,
    claim: Claim | None = None,
) -> str:
    """Store the run's results (once) and end it as succeeded; returns its status.

    With a `claim`, nothing is stored or ended once a later delivery holds the run.
    """
    held = claim.held() if claim else {}
    Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, **held).update(
        progress=80, phase="storing breaks"
    )  # a cancel asked from now on is checked under the store's lock
    break_store.store_results(run, result, engine_ms=engine_ms, match_count=match_count, held=held)
    current = Run.objects.get(pk=run.pk)
    if current.status == Run.Status.RUNNING and current.break_count is not None:
        # Stored now, or by an earlier delivery whose worker died before finishing.
        finish(run, Run.Status.SUCCEEDED, claim=claim)
    return _status(run.pk)


# --- A whole run ---------------------------------------------------------------------------------


def _claim_run(run_id: int, worker: str) -> Run | None:
    """The run, claimed by this delivery; None if there is nothing to do."""
    with transaction.atomic():
        claimed = claim_delivery(Run.objects.filter(pk=run_id), worker)
        # A run already split keeps its start and its parts' progress.
        Run.objects.filter(pk=run_id, partition_count=0).update(
            started_at=timezone.now(), phase="starting"
        )
        if not claimed:
            return None
        return Run.objects.select_related(
            "internal_dataset", "external_dataset", "prices_dataset", "rule_set_version"
        ).get(pk=run_id)


def execute_run(run_id: int, *, worker: str = "") -> str:
    """Run the engine for a run and store its breaks; returns the run's status.

    A large run is split into parts for several workers: then this returns "running" at once
    and the last part to finish stores the breaks.
    `worker`: the name of the worker executing it (recorded on the run while it holds it).
    """
    run = _claim_run(run_id, worker)
    if run is None:
        return _status(run_id) or "missing"
    claim_ = Claim.of("deliveries", run.deliveries)
    if run.deliveries > MAX_DELIVERIES:
        give_up(run, "The run", claim_)
        return _status(run_id)
    with failures_recorded(run, claim_) as outcome:
        if run.partition_count or partitions.should_split(run):
            outcome.status = _split(run, claim_, worker)
            return outcome.status
        result, engine_ms = reconcile(run, Progress(run.pk, claim_))
        outcome.status = store_and_finish(run, result, engine_ms=engine_ms, claim=claim_)
    return outcome.status


def _split(run: Run, claim_: Claim, worker: str) -> str:
    """Split the run (once) and queue its parts not taken yet; the run stays running.

    Then the run is held by its parts, not by this delivery: its claim is released.
    """
    waiting = partitions.split(run)
    if waiting is None:
        return _status(run.pk)
    transaction.on_commit(lambda: task_queue.execute_partitions(run.pk, waiting))
    # After the parts are sent: a worker dying before this line leaves the run claimed, and the
    # sweep sends it again (which sends the waiting parts again, each claimed with a count).
    Run.objects.filter(pk=run.pk, **claim_.held()).update(worker="", worker_instance="")
    if not waiting:  # redelivered after the parts were taken: the merge may be what is missing
        return merge_when_done(run.pk, worker=worker)
    return Run.Status.RUNNING


# --- A part of a split run, and the merge --------------------------------------------------------


def _claim_part(run_id: int, number: int, worker: str) -> RunPartition | None:
    """The part, claimed by this delivery; None if there is nothing to do."""
    rows = RunPartition.objects.filter(run_id=run_id, number=number, run__status=Run.Status.RUNNING)
    if not claim_delivery(rows, worker, started_at=timezone.now()):
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
    if part is not None and not partitions.still_held(part):
        raise RunSuperseded
    if state[1]:
        raise RunCancelled


def execute_partition(run_id: int, number: int, *, worker: str = "") -> str:
    """Reconcile one part of a run; the part that completes the set merges and stores them."""
    part = _claim_part(run_id, number, worker)
    if part is None:
        # Done already (this is a redelivery, or a merge handed back) or the run is over: finish
        # what may be left.
        return merge_when_done(run_id, worker=worker)
    run = part.run
    claim_ = Claim.of_part(number, part.deliveries)
    if part.deliveries > MAX_DELIVERIES:
        return give_up(run, f"Part {number} of the run", claim_)
    with failures_recorded(run, claim_) as outcome:
        result, engine_ms = reconcile(
            run, lambda *_: _check_cancel(run_id, part), assets=part.assets
        )
        _check_cancel(run_id, part)
        partitions.keep(part, result, engine_ms)
        outcome.status = merge_when_done(run_id, worker=worker)
    return outcome.status


def merge_when_done(run_id: int, *, worker: str = "") -> str:
    """If every part is done and the run not yet stored: merge the parts, store, finish.

    The merge claims the run (its merge count, and `worker`): a merge whose worker stops is
    handed to another worker, and a merge superseded so stores and ends nothing.
    """
    run = Run.objects.select_related(
        "internal_dataset__account", "external_dataset__account", "rule_set_version"
    ).get(pk=run_id)
    if run.status != Run.Status.RUNNING or not run.partition_count:
        return run.status
    if not partitions.all_done(run):
        return Run.Status.RUNNING
    Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).update(
        merges=F("merges") + 1, **claim_sweep.claimant(worker)
    )
    claim_ = Claim.of("merges", Run.objects.get(pk=run_id).merges)
    if run.break_count is not None:  # stored by a merge whose worker died before finishing
        return store_and_finish(run, RunResult(empty_breaks()), engine_ms=0, claim=claim_)
    if claim_.held()["merges"] > MAX_DELIVERIES:
        return give_up(run, "Merging the run's parts", claim_)
    with failures_recorded(run, claim_) as outcome:
        _check_cancel(run_id)
        Run.objects.filter(pk=run_id, status=Run.Status.RUNNING, **claim_.held()).update(
            progress=75, phase="merging parts"
        )
        merged = partitions.merged(run)
        outcome.status = store_and_finish(
            run, merged.result, engine_ms=merged.engine_ms, match_count=merged.match_count,
            claim=claim_,
        )  # fmt: skip
    if outcome.status == Run.Status.SUCCEEDED:
        partitions.drop_merged(run)
    return outcome.status
