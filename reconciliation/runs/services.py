"""Runs (SPEC 2.4): start and cancel; a worker executes them (reconciliation/runs/execution.py).

A run records its inputs (datasets, prices, rule set version) so it can be repeated; its task
is sent once the transaction that created it commits.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit import services as audit
from config.errors import DomainError
from reconciliation import selectors, task_queue
from reconciliation.book import selectors as book
from reconciliation.models import Dataset, RuleSet, RuleSetVersion, Run
from reconciliation.runs import inputs as run_inputs


class RunRefused(DomainError):
    code = "run_refused"


class RunNotCancellable(DomainError):
    code = "run_not_cancellable"


def default_rule_set_version() -> RuleSetVersion:
    version = selectors.latest_published(RuleSet.objects.get(name="default"))
    if version is None:
        raise RunRefused("The default rule set has no published version.")
    return version


def _check_inputs(type_: str, internal: Dataset, external: Dataset, prices: Dataset | None):
    if type_ not in run_inputs.RUN_TYPES:
        available = ", ".join(run_inputs.TYPES)
        raise RunRefused(f"{type_!r} cannot be run; the types available are: {available}.")
    problems = {}
    for side, dataset in (("internal", internal), ("external", external)):
        found = run_inputs.dataset_problems(type_, side, dataset)
        if found:
            problems[side] = found
    if run_inputs.RUN_TYPES[type_].prices and prices is None:
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
        # The book adjustments in force now are the ones this run includes, every delivery.
        through, count = book.in_force(internal)
        run = Run.objects.create(
            adjustments_through=through,
            adjustment_count=count,
            type=type,
            internal_dataset=internal,
            internal_account_id=internal.account_id,
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
                   "prices_chosen": "latest" if prices_by_default else "given",
                   "adjustments_through": through, "adjustment_count": count},
        )  # fmt: skip
        transaction.on_commit(lambda: task_queue.execute_run(run.pk))
    return run


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
