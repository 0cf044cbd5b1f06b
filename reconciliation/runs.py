"""Runs (SPEC 2.4): start, execute on a worker with progress, cancel; reproducible and idempotent.

A run's task may be delivered more than once (a worker died, Redis redelivered it). Execution is
therefore a sequence of guarded steps: claiming the run counts a delivery (the third failed one
fails the run), the engine is pure and deterministic, and all results are stored in one
transaction that first checks the run is still running and unstored. A redelivered task either
finds the run finished and does nothing, or computes the same results again.

A claim also records the worker (name and process instance): if that worker stops sending
heartbeats, a sweep hands the run to another worker within a minute (reconciliation/run_sweep.py)
instead of Redis doing so after hours. The delivery count is the claim's fencing number: the
progress, store and finish steps of a delivery act only while the run still carries its number,
so a worker thought dead that comes back stops instead of storing over the newer delivery.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from audit import services as audit
from config import claim_sweep
from config.errors import DomainError
from reconciliation import break_store, frames, match_store, rule_sets, run_inputs
from reconciliation.break_store import RunCancelled, RunOver, RunResult, RunSuperseded
from reconciliation.engine import rule_definition
from reconciliation.models import Dataset, RuleSet, RuleSetVersion, Run

logger = logging.getLogger(__name__)
MAX_DELIVERIES = claim_sweep.MAX_DELIVERIES
claimant = claim_sweep.claimant


class RunRefused(DomainError):
    code = "run_refused"


class RunNotCancellable(DomainError):
    code = "run_not_cancellable"


def default_rule_set_version() -> RuleSetVersion:
    version = rule_sets.latest_published(RuleSet.objects.get(name="default"))
    if version is None:
        raise RunRefused("The default rule set has no published version.")
    return version


def _check_inputs(type_: str, internal: Dataset, external: Dataset, prices: Dataset | None):
    if type_ not in run_inputs.NEEDS:
        available = ", ".join(run_inputs.TYPES)
        raise RunRefused(f"{type_!r} cannot be run; the types available are: {available}.")
    problems = {}
    for side, dataset in (("internal", internal), ("external", external)):
        found = run_inputs.dataset_problems(type_, side, dataset)
        if found:
            problems[side] = found
    if run_inputs.NEEDS[type_].prices and prices is None:
        problems["prices"] = [
            "a prices dataset is needed to value positions, and none has prices at or before "
            f"the run's time ({run_inputs.run_time(internal, external):%Y-%m-%d %H:%M} UTC)"
        ]
    elif prices is not None and prices.kind != "prices":
        problems["prices"] = [f"dataset {prices.pk} is {prices.kind}, not prices"]
    if internal.pk == external.pk:
        problems["external"] = ["must be another dataset than the internal one"]
    if problems:
        raise RunRefused("These datasets cannot be reconciled that way.", fields=problems)


def start_run(
    *,
    type: str,
    internal: Dataset,
    external: Dataset,
    prices: Dataset | None = None,
    rule_set_version: RuleSetVersion | None = None,
    by=None,
) -> Run:
    """Queue a run; the task is sent once the transaction commits.

    Without `prices` the run takes the latest prices dataset at its time (every type values
    its breaks with prices, and an unvalued break is graded high) and records which, so the
    run can be repeated with the same prices.
    """
    as_of = run_inputs.run_time(internal, external)
    prices_by_default = prices is None
    if prices_by_default:
        prices = run_inputs.prices_for(internal, external)
    _check_inputs(type, internal, external, prices)
    version = rule_set_version or default_rule_set_version()
    if version.status != RuleSetVersion.Status.PUBLISHED:
        raise RunRefused(f"Rule set version {version} is a draft: publish it before running.")
    with transaction.atomic():
        run = Run.objects.create(
            type=type,
            internal_dataset=internal,
            external_dataset=external,
            prices_dataset=prices,
            rule_set_version=version,
            as_of=as_of,
            created_by=audit.acting_user(by),
        )
        audit.record(
            action="run.started", actor=by, object_type="run", object_id=run.pk,
            after={"type": type, "internal": internal.pk, "external": external.pk,
                   "prices": prices.pk if prices else None, "rule_set_version": version.pk,
                   "prices_chosen": "latest" if prices_by_default else "given"},
        )  # fmt: skip
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: int) -> None:
    from reconciliation.tasks import execute_run

    execute_run.delay(run_id)


def cancel_run(run: Run, *, by) -> Run:
    """Cancel a queued run at once; ask a running one to stop at its next phase."""
    with transaction.atomic():
        if Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED).update(
            status=Run.Status.CANCELLED, phase="cancelled", finished_at=timezone.now()
        ):
            action = "run.cancelled"
        elif Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(cancel_requested=True):
            action = "run.cancel_requested"  # the worker stops at its next phase
        else:
            raise RunNotCancellable(f"Run {run.pk} has already finished.")
        audit.record(action=action, actor=by, object_type="run", object_id=run.pk)
    run.refresh_from_db()
    return run


# --- Execution (called by the Celery task) -------------------------------------------------------


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


def _claim(run_id: int, worker: str = "") -> Run | None:
    """Mark the run running, count this delivery and record who holds it; None if nothing to do."""
    with transaction.atomic():
        claimed = Run.objects.filter(
            pk=run_id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
        ).update(status=Run.Status.RUNNING, deliveries=F("deliveries") + 1, **claimant(worker))
        # A run already split keeps its start and its parts' progress.
        Run.objects.filter(pk=run_id, partition_count=0).update(
            started_at=timezone.now(), phase="starting"
        )
        if not claimed:
            return None
        run = Run.objects.select_related(
            "internal_dataset", "external_dataset", "prices_dataset", "rule_set_version"
        ).get(pk=run_id)
    if run.deliveries > MAX_DELIVERIES:
        give_up(run, "The run", Claim.of("deliveries", run.deliveries))
        return None
    return run


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
        stored = running.values_list("break_count", flat=True).first() is not None
        if stored and status_ != Run.Status.SUCCEEDED:
            status_, message = Run.Status.SUCCEEDED, ""
        ended = running.update(
            status=status_, message=message, finished_at=timezone.now(), worker="",
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
    outcome.status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).first()


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
    return Run.objects.filter(pk=run.pk).values_list("status", flat=True).first()


def execute_run(run_id: int, *, worker: str = "") -> str:
    """Run the engine for a run and store its breaks; returns the run's status.

    A large run is split into parts for several workers (reconciliation/partitions.py): then
    this returns "running" at once and the last part to finish stores the breaks.
    `worker`: the name of the worker executing it (recorded on the run while it holds it).
    """
    from reconciliation import partitions, run_engine

    run = _claim(run_id, worker)
    if run is None:
        return Run.objects.filter(pk=run_id).values_list("status", flat=True).first() or "missing"
    claim = Claim.of("deliveries", run.deliveries)
    progress = Progress(run.pk, claim)
    with failures_recorded(run, claim) as outcome:
        if run.partition_count or partitions.should_split(run):
            outcome.status = partitions.split(run, claim, worker=worker)
            return outcome.status
        progress(5, "loading datasets")
        inputs = load_inputs(run)
        progress(30, "reconciling")
        definition = rule_definition.validate(run.rule_set_version.definition)
        started = time.perf_counter()
        result = run_engine.reconcile(run, inputs, definition)
        engine_ms = int((time.perf_counter() - started) * 1000)
        outcome.status = store_and_finish(run, result, engine_ms=engine_ms, claim=claim)
    return outcome.status


def load_inputs(run: Run, assets: list[str] | None = None) -> dict:
    """The run's datasets as engine frames (with `assets`: only those assets' rows)."""
    wanted = {
        "internal": (run.internal_dataset, assets),
        "external": (run.external_dataset, assets),
    }
    if run.prices_dataset is not None:
        wanted["prices"] = (run.prices_dataset, None)
    if connection.in_atomic_block:
        # Inside a transaction (a test, a preview) other connections would not see its data.
        return {name: frames.load(*args) for name, args in wanted.items()}
    # Each side on its own connection: PostgreSQL renders both at once while Arrow parses.
    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        futures = {
            name: pool.submit(_load_on_own_connection, *args) for name, args in wanted.items()
        }
        return {name: future.result() for name, future in futures.items()}


def _load_on_own_connection(dataset: Dataset, assets: list[str] | None):
    try:
        return frames.load(dataset, assets)
    finally:
        connections.close_all()  # this thread's connection, not the caller's
