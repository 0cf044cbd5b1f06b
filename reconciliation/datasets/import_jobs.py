"""Import jobs: a confirmed upload is loaded by a worker, never inside the web request.

A 300,000-row spreadsheet takes over a minute to load; a web worker must answer in seconds.
So confirming a preview (or posting a large file to the API) records an ImportJob and queues
`reconciliation.execute_import`; the worker calls the one door for data in
(`ingest.import_file`) and writes the outcome on the job, which the job page and
`GET /api/imports/{id}/` show.

A claim (queued or running -> running) counts a delivery and records the worker's name and
process instance, as a run's does. If that worker stops sending heartbeats, the sweep every
worker runs hands the job back and sends its task again (reconciliation/datasets/import_sweep.py); a
message redelivered by Celery (its pool process died, or the visibility timeout) takes the job
over the same way. The delivery count is the claim's fencing number: a job delivered more than
three times is given up, and a delivery superseded by a later claim stores and ends nothing.

Why a file is never loaded twice, and the job never ends wrongly, whatever dies when:
- Storing is one transaction (ingest: COPY of every row, then the dataset row), queued on an
  advisory lock per target and content, which first looks for a dataset of that content.
- That transaction also holds the job: once the rows are copied, `_hold` updates the job row
  under this delivery's number (locking it), and the job's success is written in the same
  transaction. So "the dataset exists" and "its job succeeded" commit together, or neither does.
- Dead before that commit (parsing, copying): PostgreSQL rolls the transaction back when the
  connection drops; nothing was stored, and the next delivery loads the file from the start.
- Frozen inside the transaction (SIGSTOP) and taken for dead: the next delivery waits on the
  advisory lock; thawed, the old one's `_hold` finds a later number and raises
  `ImportSuperseded`, which rolls its rows back; the next delivery then stores. Frozen before
  the transaction: the next delivery stores and ends the job; thawed, the old one finds the
  dataset (nothing stored again) and its guarded end changes nothing.
- There is no window between "dataset committed" and "job ended": a job still running has no
  dataset of its own, so a redelivery never reports a file this job loaded as "already loaded".
- A superseded delivery leaves the staged file alone: only the delivery that ends the job
  removes it (after the commit).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Now
from django.http import Http404
from django.utils import timezone

from audit import services as audit
from config import claim_sweep
from reconciliation import task_queue
from reconciliation.datasets import ingest, staging
from reconciliation.models import Account, ImportJob, Source

logger = logging.getLogger(__name__)

Status = ImportJob.Status
LOADING = "reading, checking and storing the file"
SUPERSEDED = "superseded"
GIVEN_UP = (
    f"The import was started {claim_sweep.MAX_DELIVERIES} times without finishing (its worker "
    "stopped each time, perhaps for lack of memory); nothing was loaded. Upload the file again."
)


class PreviewGone(ingest.DatasetRejected):
    """The previewed file is no longer kept (expired, or confirmed already)."""

    code = "preview_gone"


class ImportSuperseded(Exception):
    """A later delivery holds the job (this one's worker was taken for dead): it decides."""


# --- services (writes) ---------------------------------------------------------------------


def queue_confirmed(token_meta: dict, *, by) -> ImportJob:
    """Queue the import of a previewed file (the meta its staging token carries)."""
    source = Source.objects.filter(pk=token_meta["source"]).first()
    account = Account.objects.filter(pk=token_meta["account"]).first()
    if source is None or (token_meta["account"] and account is None):
        raise PreviewGone("The source or account of that preview no longer exists.")
    fmt = ingest.format_named(token_meta["format"])
    ingest.check_target(source, account, fmt)
    size = staging.keep_for_job(token_meta)
    if size is None:
        raise PreviewGone("That preview has expired; upload the file again.")
    try:
        return _queue(
            source=source, account=account, fmt=fmt, filename=token_meta["filename"], size=size,
            content_hash=token_meta["content_hash"], staged_name=token_meta["name"], by=by,
        )  # fmt: skip
    except BaseException:
        staging.discard_job_file(token_meta["name"])
        raise


def queue_file(
    *, source: Source, account: Account | None, format_code: str, data: bytes, filename: str, by
) -> ImportJob:
    """Queue the import of a file posted without a preview (the API's large uploads)."""
    fmt = ingest.format_named(format_code)
    ingest.check_target(source, account, fmt)
    ingest.check_size(len(data))
    name = staging.stage_for_job(data)
    try:
        return _queue(
            source=source, account=account, fmt=fmt, filename=filename, size=len(data),
            content_hash=ingest.content_hash(format_code, data), staged_name=name, by=by,
        )  # fmt: skip
    except BaseException:
        staging.discard_job_file(name)
        raise


def _queue(*, source, account, fmt, filename, size, content_hash, staged_name, by) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.create(
            source=source, account=account, format=fmt.code, kind=fmt.kind,
            filename=filename[:255], size=size, content_hash=content_hash,
            staged_name=staged_name, created_by=by,
        )  # fmt: skip
        audit.record(
            action="dataset.import_queued",
            actor=by,
            object_type="import_job",
            object_id=job.pk,
            after={
                "format": fmt.code,
                "source": source.code,
                "account": account.code if account else None,
                "file": filename,
                "bytes": size,
                "content_hash": content_hash,
            },
        )
        transaction.on_commit(lambda: enqueue(job.pk))
    if not transaction.get_connection().in_atomic_block:
        job.refresh_from_db()  # sent already: as the broker left it (queued, or failed)
    return job


def enqueue(job_id: int) -> None:
    """Send the job to the workers; if the broker cannot take it, the job fails, file gone.

    (Run after commit: the request has its job either way, and answers with its page.)
    """
    from kombu.exceptions import OperationalError

    try:
        task_queue.send(task_queue.EXECUTE_IMPORT, job_id, queue=settings.IMPORT_QUEUE or None)
    except OperationalError:
        logger.exception("import job %s could not be queued", job_id)
        job = ImportJob.objects.get(pk=job_id)
        # Queued, or handed back by the sweep (running, held by nobody).
        unheld = ImportJob.objects.filter(
            pk=job_id, status__in=[Status.QUEUED, Status.RUNNING], worker_instance=""
        )
        failed = unheld.update(
            status=Status.FAILED, phase="done", progress=100, finished_at=timezone.now(),
            message="The import could not be queued (the task broker did not answer); nothing "
            "was loaded. Upload the file again.",
        )  # fmt: skip
        if failed:
            staging.discard_job_file(job.staged_name)


def execute_import(job_id: int, *, worker: str = "") -> str:
    """Load a queued job's file (the worker's task); returns the job's status afterwards.

    "skipped": the job had ended already; "superseded": a later delivery took it over.
    """
    job = _claim(job_id, worker)
    if job is None:
        return "skipped"
    return _load(job)


def _load(job: ImportJob) -> str:
    """This delivery's part, once it holds the job: load the file, end the job (fenced)."""
    status = _load_and_end(job)
    if status != SUPERSEDED:  # this delivery ended the job (committed): the file is done with
        staging.discard_job_file(job.staged_name)
    return status


def _load_and_end(job: ImportJob) -> str:
    if job.deliveries > claim_sweep.MAX_DELIVERIES:
        return _finish(job, Status.FAILED, message=GIVEN_UP)
    data = staging.job_file(job.staged_name)
    if data is None:
        return _finish(job, Status.FAILED, message="The uploaded file is no longer kept; upload "
                       "it again. Nothing was loaded.")  # fmt: skip
    try:
        with transaction.atomic():  # the dataset and the job's end commit together
            result = ingest.import_file(
                source=job.source, account=job.account, format_code=job.format, data=data,
                filename=job.filename, by=job.created_by, fence=lambda: _hold(job),
            )  # fmt: skip
            return _succeeded(job, result)
    except ImportSuperseded:
        logger.info("import job %s: delivery %s was superseded", job.pk, job.deliveries)
        return SUPERSEDED
    except ingest.DatasetRejected as exc:  # refusals, row errors, DatasetNotStored
        errors = [error.as_dict() for error in exc.errors.first()]
        return _finish(job, Status.FAILED, message=f"Nothing was loaded: {exc.message}",
                       errors=errors, error_count=exc.errors.total)  # fmt: skip
    except Exception:
        logger.exception("import job %s failed", job.pk)
        return _finish(job, Status.FAILED, message="The import failed unexpectedly; nothing was "
                       "loaded. The error has been logged.")  # fmt: skip


def _succeeded(job: ImportJob, result: ingest.ImportResult) -> str:
    dataset = result.dataset
    if result.created:
        rows = f"{dataset.row_count} row{'s' if dataset.row_count != 1 else ''}"
        message = f"Loaded dataset {dataset.pk}: {rows}."
    else:
        message = f"This file was already loaded as dataset {dataset.pk}; nothing was loaded again."
    return _finish(job, Status.SUCCEEDED, message=message, dataset=dataset, created=result.created)


def _claim(job_id: int, worker: str) -> ImportJob | None:
    """The job, now held by this delivery (one more counted); None if it has ended."""
    claimable = ImportJob.objects.filter(pk=job_id, status__in=[Status.QUEUED, Status.RUNNING])
    claimed = claimable.update(
        status=Status.RUNNING, phase=LOADING, progress=10, deliveries=F("deliveries") + 1,
        started_at=Coalesce("started_at", Now()), **claim_sweep.claimant(worker),
    )  # fmt: skip
    if not claimed:
        return None
    return ImportJob.objects.select_related("source", "account", "created_by").get(pk=job_id)


def _held(job: ImportJob):
    """The job, while it is still running under this delivery's number."""
    return ImportJob.objects.filter(pk=job.pk, status=Status.RUNNING, deliveries=job.deliveries)


def _hold(job: ImportJob) -> None:
    """Inside the storing transaction: lock the job if this delivery still holds it, else stop.

    (Before the dataset's audit entry: the sweep locks the job, then the audit chain; the same
    order here, so neither waits for the other in a cycle.)
    """
    if not _held(job).update(progress=90):
        raise ImportSuperseded


def _finish(job: ImportJob, status: str, *, message: str, **outcome) -> str:
    """End the job under this delivery's number; "superseded" if a later one holds it."""
    if "errors" in outcome:
        outcome["errors"] = [
            {name: _storable(value) for name, value in error.items()} for error in outcome["errors"]
        ]
    ended = _held(job).update(
        status=status, phase="done", progress=100, message=_storable(message),
        finished_at=timezone.now(), worker_instance="", **outcome,
    )  # fmt: skip
    return status if ended else SUPERSEDED  # (then the later delivery ends it)


def _storable(value):
    """Text PostgreSQL can keep: a rejected file's values may hold NUL or half a character."""
    if not isinstance(value, str):
        return value
    return value.replace("\x00", "\\x00").encode("utf-8", "replace").decode()


# --- selectors (reads) ---------------------------------------------------------------------


def access_import_job(user, job_id: int) -> ImportJob:
    """The job if `user` queued it (an import job is its uploader's alone), or 404."""
    job = (
        ImportJob.objects.select_related("source", "account", "dataset")
        .filter(pk=job_id, created_by=user)
        .first()
    )
    if job is None:
        raise Http404("No such import.")
    return job


def job_for_preview(user, token_meta: dict | None) -> ImportJob | None:
    """The job a user's own preview was confirmed as (a second Load after Back)."""
    if token_meta is None or token_meta.get("user") != user.pk:
        return None
    return ImportJob.objects.filter(created_by=user, staged_name=token_meta["name"]).first()
