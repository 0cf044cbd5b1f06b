"""Ways in that many tests take: a file posted to the REST API or confirmed on the upload page,
a book reconciled by a run."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from reconciliation.datasets import import_jobs, ingest
from reconciliation.models import Account, Dataset, ImportJob, Run, Source
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def post_file(api: APIClient, source: Source, account: Account | None, format_code: str,
              data: bytes, name: str):  # fmt: skip
    """POST /api/datasets/ (multipart) with the file, for the account (or the source alone)."""
    fields = {"source": source.code, "format": format_code}
    if account is not None:
        fields["account"] = account.code
    return api.post(
        "/api/datasets/", {**fields, "file": SimpleUploadedFile(name, data)}, format="multipart"
    )


def confirm_upload(client, token: str, *, follow: bool = False):
    """Press the preview's Load button, then do the worker's part here: the jobs it queued.

    (The worker's task is queued on commit, which a test's transaction never reaches; tests of
    the real worker are in test_long_work.py.) With `follow`, the job page as it ends.
    """
    response = client.post("/datasets/upload/confirm/", {"token": token})
    for job in ImportJob.objects.filter(status=ImportJob.Status.QUEUED):
        import_jobs.execute_import(job.pk)
    return client.get(response["Location"], follow=True) if follow else response


def run_against_book(book: Account, format_code: str, text: str, run_type: str,
                     external: Dataset) -> Run:  # fmt: skip
    """Load `text` as the book's dataset, run `run_type` against `external`; it must succeed."""
    internal = ingest.import_file(
        source=book.source, account=book, format_code=format_code, data=text.encode(),
        filename=f"{format_code}.csv",
    ).dataset  # fmt: skip
    run = runs.start_run(type=run_type, internal=internal, external=external)
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.message
    return run
