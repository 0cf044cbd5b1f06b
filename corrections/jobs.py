"""A succeeded run's automatic corrections, proposed by a worker that claims the run's job.

The job (`ProposalJob`) is queued when the run succeeds and its task sent. A delivery claims it
(one more delivery counted, the worker recorded) in a short transaction of its own, then, in one
transaction, holds it under that number (locking it first: the sweep locks a job before the
audit chain, and so does this), proposes and applies (`services.propose_for_run`) and marks it
done: a worker that dies half-way leaves nothing, and the job still running. Its task comes back
either from Celery (the pool process died: requeued at once) or from the sweep (the whole worker
died: config/claim_sweep.py sends it again once the worker's heartbeat is stale), and a delivery
that finds the job done or held by a later delivery does nothing.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.access import has_capability
from audit import services as audit
from config import claim_sweep
from config.errors import DomainError
from corrections import services, signals, task_queue
from corrections.models import ProposalJob
from corrections.services import NotAllowed
from reconciliation.models import Run

logger = logging.getLogger(__name__)
Status = ProposalJob.Status
SUPERSEDED = {"superseded": True}


def queue(run_id: int) -> None:
    """Queue the run's proposals once (a second call for the same run does nothing)."""
    _job, created = ProposalJob.objects.get_or_create(
        run_id=run_id, defaults={"delivery_limit": claim_sweep.MAX_DELIVERIES}
    )
    if created:
        transaction.on_commit(lambda: task_queue.propose_for_run(run_id))


class RetryRefused(DomainError):
    code = "proposals_not_retried"


ENDED_BADLY = (Status.FAILED, Status.GIVEN_UP)


def retry(run_id: int, *, by) -> ProposalJob:
    """Queue again the proposals of a run whose job failed or was given up (someone fixed the
    cause: a worker's memory, a bug): the same job, with room for as many deliveries again."""
    if not has_capability(by, "propose_corrections"):
        raise NotAllowed("You may not propose corrections.")
    with transaction.atomic():
        job = ProposalJob.objects.select_for_update().filter(run_id=run_id).first()
        if job is None or job.status not in ENDED_BADLY:
            state = "never queued" if job is None else job.get_status_display()
            raise RetryRefused(
                f"Run {run_id}'s automatic corrections are {state}: only failed or given-up "
                "proposals are tried again."
            )
        before = {"status": job.status, "deliveries": job.deliveries, "outcome": job.outcome}
        ProposalJob.objects.filter(pk=job.pk, status__in=ENDED_BADLY).update(
            status=Status.QUEUED, delivery_limit=job.deliveries + claim_sweep.MAX_DELIVERIES,
            outcome={}, finished_at=None, worker_instance="",
        )  # fmt: skip
        audit.record(action="corrections.proposals_retried", actor=by, object_type="run",
                     object_id=run_id, before=before, after={"status": Status.QUEUED})  # fmt: skip
        transaction.on_commit(lambda: task_queue.propose_for_run(run_id))
    job.refresh_from_db()
    return job


def deliver(run_id: int, *, worker: str = "") -> dict:
    """This delivery's proposals for the run: what it made, or why it made nothing."""
    job = _claim(run_id, worker)
    if job is None:
        return {"skipped": True}  # done already, or never queued
    if job.deliveries > job.delivery_limit:
        return _give_up(job)
    try:
        with transaction.atomic():
            if not _held(job).update(worker_instance=job.worker_instance):
                return SUPERSEDED  # a later delivery holds it (this worker was taken for dead)
            outcome = services.propose_for_run(Run.objects.get(pk=run_id))
            _end(job, Status.DONE, outcome)
            transaction.on_commit(lambda: signals.proposals_made.send(sender=ProposalJob,
                                                                      run_id=run_id))  # fmt: skip
    except Exception:
        # Nothing was made (the transaction rolled back): say so on the job, not only in a log
        # line, so the job does not show "running" under a live worker for ever.
        logger.exception("run %s: proposing its corrections failed", run_id)
        _end(job, Status.FAILED, {"error": "proposing failed unexpectedly; see the worker's log"})
        raise
    return outcome


def _end(job: ProposalJob, status: str, outcome: dict) -> int:
    return _held(job).update(status=status, outcome=outcome, finished_at=timezone.now(),
                             worker_instance="")  # fmt: skip


def _claim(run_id: int, worker: str) -> ProposalJob | None:
    claimed = ProposalJob.objects.filter(
        run_id=run_id, status__in=[Status.QUEUED, Status.RUNNING]
    ).update(status=Status.RUNNING, deliveries=F("deliveries") + 1, **claim_sweep.claimant(worker))
    return ProposalJob.objects.get(run_id=run_id) if claimed else None


def _held(job: ProposalJob):
    """The job while it is still running under this delivery's number."""
    return ProposalJob.objects.filter(pk=job.pk, status=Status.RUNNING, deliveries=job.deliveries)


def _give_up(job: ProposalJob) -> dict:
    """Work whose workers keep dying (e.g. out of memory) is not delivered for ever."""
    with transaction.atomic():
        if _end(job, Status.GIVEN_UP, {"given_up": True}):
            audit.record(
                action="corrections.proposals_given_up", object_type="run",
                object_id=job.run_id, after={"deliveries": job.deliveries - 1},
            )  # fmt: skip
    logger.error("run %s: its corrections were not proposed after %s deliveries", job.run_id,
                 job.deliveries - 1)  # fmt: skip
    return {"given_up": True}


def _hand_back(row: dict) -> None:
    run_id = row["run_id"]
    audit.record(
        action="corrections.proposals_handed_back", object_type="run", object_id=run_id,
        after={"worker": row["worker"], "deliveries": row["deliveries"]},
    )  # fmt: skip
    transaction.on_commit(lambda: task_queue.propose_for_run(run_id))


PROPOSALS = claim_sweep.Claimable(
    name="run proposals",
    rows=lambda: ProposalJob.objects.filter(status=Status.RUNNING),
    fence=("deliveries",),
    hand_back=_hand_back,
    values=("run_id",),
)


def register() -> None:
    claim_sweep.register(PROPOSALS)
