"""Import jobs whose worker stopped are handed to another worker (config/claim_sweep.py).

A running job is held by its delivery count. Handed back, it keeps showing "running" (its phase
says it waits for another worker) and its task is sent again; the next claim counts one more
delivery, so a file whose workers keep dying (out of memory) is given up after three. The file
stays in UPLOAD_STAGING_DIR/jobs until a delivery ends the job. Why the load stays once-only
across the crash windows: reconciliation/datasets/import_jobs.py.
"""

from __future__ import annotations

from django.db import transaction

from audit import services as audit
from config import claim_sweep
from reconciliation.datasets import import_jobs
from reconciliation.models import ImportJob


def _running_jobs():
    return ImportJob.objects.filter(status=ImportJob.Status.RUNNING)


def _hand_back_job(row: dict) -> None:
    job_id = row["pk"]
    audit.record(
        action="import.handed_back", object_type="import_job", object_id=job_id,
        after={"worker": row["worker"], "deliveries": row["deliveries"]},
    )  # fmt: skip
    transaction.on_commit(lambda: import_jobs.enqueue(job_id))


IMPORTS = claim_sweep.Claimable(
    name="import jobs",
    rows=_running_jobs,
    fence=("deliveries",),
    hand_back=_hand_back_job,
    released={"phase": claim_sweep.WAITING},
)


def register() -> None:
    claim_sweep.register(IMPORTS)
