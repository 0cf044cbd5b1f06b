"""A real worker killed, or frozen, while it imports a confirmed upload: the job is handed to
another worker by the sweep and the file is loaded exactly once.

The upload is 100,000 trades (some seconds of reading and COPY); each test confirms it on the
upload page, waits until the worker's COPY into the trade records is running (inside the
storing transaction), and then kills or freezes the worker's whole process group.
"""

import os
import signal
import time
import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum

from audit import selectors as audit_selectors
from audit.models import AuditEvent
from reconciliation.datasets import staging
from reconciliation.models import Dataset, ImportJob, TradeRecord
from tests.reconciliation.large_trades import TRADES, _trade_files
from tests.worker import Worker, sending_to, statement_running, wait_until_ended, worker_process

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The sweep (config/claim_sweep.py) soon; Redis's visibility timeout stays 6 h.
SWEEP_SOON = {"WORKER_STALE_AFTER": "5", "CLAIM_SWEEP_INTERVAL": "1"}


@pytest.fixture
def upload(settings, tmp_path):
    """The exchange's trades as a file, and what a correct load of it holds."""
    settings.UPLOAD_STAGING_DIR = tmp_path / "uploads"
    _, data = _trade_files(TRADES)
    rows = [line.split(",") for line in data.decode().splitlines()[1:]]
    sums = {
        "quantity": sum(Decimal(row[4]) for row in rows),
        "price": sum(Decimal(row[5]) for row in rows),
    }
    return data, sums


def _confirm(client, book, data: bytes) -> ImportJob:
    preview = client.post(
        "/datasets/upload/",
        {"source": "book", "account": book.pk, "format": "generic-trades",
         "file": SimpleUploadedFile("trades.csv", data)},
    )  # fmt: skip
    assert preview.status_code == 200 and "token" in preview.context, preview.content[:2000]
    response = client.post("/datasets/upload/confirm/", {"token": preview.context["token"]})
    assert response.status_code == 302, response.content[:2000]
    return ImportJob.objects.get()


def _wait_for_copy(job: ImportJob, worker: Worker, timeout: float = 60) -> None:
    """Poll until a worker's COPY into the trade records runs (the storing transaction)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if statement_running("COPY reconciliation_traderecord%"):
            return
        state = ImportJob.objects.values("status", "message").get(pk=job.pk)
        assert state["status"] in ("queued", "running"), (state, worker.log()[-4000:])
        time.sleep(0.02)
    raise AssertionError(f"no COPY of the import seen\n{worker.log()[-4000:]}")


def _assert_loaded_once(job: ImportJob, sums: dict, first: Worker | None) -> None:
    """One dataset of every row, with the file's sums; handed back once from `first` (if any)."""
    assert job.status == "succeeded", job.message
    assert job.deliveries == 2 and job.created is True
    dataset = Dataset.objects.get()  # exactly one
    assert job.dataset == dataset and dataset.row_count == TRADES
    assert job.message == f"Loaded dataset {dataset.pk}: {TRADES} rows."
    records = TradeRecord.objects.filter(dataset=dataset)
    assert records.count() == TradeRecord.objects.count() == TRADES
    assert records.aggregate(quantity=Sum("quantity"), price=Sum("price")) == sums
    assert AuditEvent.objects.filter(action="dataset.imported").count() == 1
    handed = AuditEvent.objects.filter(action="import.handed_back", object_id=str(job.pk))
    expected = [{"worker": first.hostname, "deliveries": 1}] if first else []
    assert [event.after for event in handed] == expected
    assert not (staging._jobs_folder() / job.staged_name).exists()
    report = audit_selectors.verify_chain()
    assert report.ok, report.problem


def test_an_import_whose_pool_process_is_killed_is_loaded_once_by_the_redelivery(
    client_as, book, upload, settings
):
    """SIGKILL of the pool process mid-COPY: the main process (alive, beating) requeues the
    task at once, and the redelivery takes the job over from the delivery that died."""
    data, sums = upload
    env = {"UPLOAD_STAGING_DIR": str(settings.UPLOAD_STAGING_DIR)}
    client = client_as("risk")
    with worker_process(extra_env=env) as worker, sending_to(worker.queue):
        job = _confirm(client, book, data)
        _wait_for_copy(job, worker)
        (pool_process,) = worker.pool_pids()
        os.kill(pool_process, signal.SIGKILL)
        job = wait_until_ended(job, worker, timeout=90)
        log = worker.log()
    assert "WorkerLostError" in log, log[-4000:]
    _assert_loaded_once(job, sums, None)


def test_an_import_whose_whole_worker_is_killed_is_loaded_once_by_a_fresh_worker(
    client_as, book, upload, settings
):
    """SIGKILL of main and pool mid-COPY (6 h visibility timeout): the fresh worker's sweep sees
    the claiming worker silent and sends the job again; it loads the file once."""
    data, sums = upload
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {**SWEEP_SOON, "UPLOAD_STAGING_DIR": str(settings.UPLOAD_STAGING_DIR)}
    client = client_as("risk")
    with sending_to(queue):
        with worker_process(extra_env=env, queue=queue, name=f"{queue}-first") as first:
            job = _confirm(client, book, data)
            _wait_for_copy(job, first)
            first.kill()
            killed_at = time.monotonic()
        at_kill = ImportJob.objects.values("status", "deliveries", "worker").get(pk=job.pk)
        assert at_kill == {"status": "running", "deliveries": 1, "worker": first.hostname}
        assert not Dataset.objects.exists() and not TradeRecord.objects.exists()  # rolled back
        with worker_process(extra_env=env, queue=queue, name=f"{queue}-second") as second:
            job = wait_until_ended(job, second, timeout=90)
            recovered_in = time.monotonic() - killed_at
            log = second.log()
    assert first.process.returncode == -signal.SIGKILL
    assert "handed back" in log, log[-4000:]
    assert recovered_in < 90
    assert job.worker == second.hostname
    _assert_loaded_once(job, sums, first)


def test_a_worker_frozen_while_storing_and_thawed_stores_nothing_over_the_next_delivery(
    client_as, book, upload, settings
):
    """SIGSTOP of main and pool mid-COPY: the job goes to a second worker, which waits for the
    frozen transaction's lock on that content; thawed, the first finds its delivery superseded
    and rolls back, so the second stores the file once and ends the job."""
    data, sums = upload
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {**SWEEP_SOON, "UPLOAD_STAGING_DIR": str(settings.UPLOAD_STAGING_DIR)}
    client = client_as("risk")
    with (
        sending_to(queue),
        worker_process(extra_env=env, queue=queue, name=f"{queue}-first") as first,
        worker_process(extra_env=env, queue=queue, name=f"{queue}-second") as second,
    ):
        job = _confirm(client, book, data)
        _wait_for_copy(job, first)
        holder = ImportJob.objects.values_list("worker", flat=True).get(pk=job.pk)
        frozen, other = (first, second) if holder == first.hostname else (second, first)
        os.killpg(frozen.pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 60
            while ImportJob.objects.values_list("deliveries", flat=True).get(pk=job.pk) < 2:
                assert time.monotonic() < deadline, other.log()[-4000:]
                time.sleep(0.05)
            time.sleep(1)  # the second delivery reads the file and waits on the frozen lock
            assert ImportJob.objects.get(pk=job.pk).status == "running"
        finally:
            os.killpg(frozen.pid, signal.SIGCONT)
        job = wait_until_ended(job, other, timeout=90)
        deadline = time.monotonic() + 60
        while "succeeded in" not in frozen.log():  # its task ends too, quietly
            assert time.monotonic() < deadline, frozen.log()[-4000:]
            time.sleep(0.1)
        assert "'superseded'" in frozen.log(), frozen.log()[-4000:]
    assert job.worker == other.hostname
    _assert_loaded_once(job, sums, frozen)
