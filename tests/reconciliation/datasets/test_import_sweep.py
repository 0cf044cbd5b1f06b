"""The sweep's guards for import jobs: a job goes to another worker only when its worker is
silent, under its delivery counter; a delivery taken over stores and ends nothing, and the file
is loaded as one dataset whatever dies when.

Workers are played by claims made under an instance id and heartbeats written to the real
Redis, as in test_run_sweep.py; test_import_worker_killed.py kills real worker processes.
"""

import threading

import pytest
from django.db import connections

from audit.models import AuditEvent
from config import claim_sweep
from reconciliation.datasets import import_jobs, import_sweep, staging
from reconciliation.models import BalanceRecord, Dataset, ImportJob
from tests.reconciliation.datasets import test_import_jobs
from tests.reconciliation.datasets.upload_requests import post
from tests.reconciliation.runs import test_run_sweep
from tests.reconciliation.sweeping import as_worker, beat

# Their fixtures, used here too: a staging folder per test, API clients, a private queue.
_staging, api, queue = test_import_jobs._staging, test_import_jobs.api, test_run_sweep.queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(api, book, settings):
    settings.WORKER_STALE_AFTER = 5
    post(api("risk"), HTTP_PREFER="respond-async")  # queued (its task waits for a commit)
    return ImportJob.objects.get()


def claimed_by(monkeypatch, job, instance, hostname="w@host", silent_for=0.0) -> ImportJob:
    """`job` claimed by a worker process whose last heartbeat was `silent_for` seconds ago."""
    as_worker(monkeypatch, instance)
    claimed = import_jobs._claim(job.pk, hostname)
    beat(instance, silent_for, hostname)
    monkeypatch.delenv("RECONDESK_WORKER_INSTANCE")
    return claimed


@pytest.fixture
def swept(queue, django_capture_on_commit_callbacks):
    """Sweep once, as a worker does; the tasks it sends go to the private queue."""

    def sweep() -> list:
        with django_capture_on_commit_callbacks(execute=True):
            return claim_sweep.sweep()

    return sweep


def staged(job) -> bool:
    return (staging._jobs_folder() / job.staged_name).exists()


def test_a_job_whose_worker_went_silent_is_handed_back_and_one_still_beating_is_not(
    queue,
    job,
    api,
    monkeypatch,
    swept,
):
    post(api("risk"), "account,asset,quantity,as_of\nmain,ETH,2,2026-01-31T00:00:00Z\n",
         HTTP_PREFER="respond-async")  # fmt: skip
    alive = ImportJob.objects.exclude(pk=job.pk).get()
    claimed_by(monkeypatch, alive, "alive", "alive@host", silent_for=1)
    claimed_by(monkeypatch, job, "silent", "silent@host", silent_for=30)
    handed = swept()
    assert [(h.kind, h.pk, h.worker, h.fence) for h in handed] == [
        ("import jobs", job.pk, "silent@host", {"deliveries": 1})
    ]
    assert queue() == 1  # the silent job's task, sent again; nothing for the live one
    job.refresh_from_db()
    assert (job.status, job.worker, job.worker_instance) == ("running", "", "")
    assert job.phase == claim_sweep.WAITING and staged(job)
    assert ImportJob.objects.values("worker_instance").get(pk=alive.pk)["worker_instance"] == (
        "alive"
    )
    (event,) = AuditEvent.objects.filter(action="import.handed_back")
    assert (event.object_type, event.object_id) == ("import_job", str(job.pk))
    assert event.after == {"worker": "silent@host", "deliveries": 1}


def test_a_handed_back_job_is_loaded_once_by_the_next_delivery(
    job,
    monkeypatch,
    swept,
):
    claimed_by(monkeypatch, job, "dead", silent_for=60)
    swept()
    assert import_jobs.execute_import(job.pk, worker="next@host") == "succeeded"
    job.refresh_from_db()
    dataset = Dataset.objects.get()
    assert (job.deliveries, job.dataset, job.created) == (2, dataset, True)
    assert job.message == f"Loaded dataset {dataset.pk}: 2 rows." and not staged(job)
    assert claim_sweep.sweep() == []  # ended: nothing to hand back any more


def test_a_delivery_taken_over_before_storing_stores_and_ends_nothing(
    job,
    monkeypatch,
    swept,
):
    """The first worker only seemed dead (frozen): back, it must not store or end the job."""
    first = claimed_by(monkeypatch, job, "first", silent_for=60)
    swept()
    second = claimed_by(monkeypatch, job, "second")
    assert import_jobs._load(first) == import_jobs.SUPERSEDED
    assert not Dataset.objects.exists() and not BalanceRecord.objects.exists()
    state = ImportJob.objects.values("status", "deliveries", "worker_instance").get(pk=job.pk)
    assert state == {"status": "running", "deliveries": 2, "worker_instance": "second"}
    assert staged(job)  # the file stays for the delivery that holds the job
    assert import_jobs._load(second) == "succeeded"
    assert Dataset.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_delivery_taken_over_while_copying_rolls_its_rows_back(queue, job, monkeypatch):
    """Frozen inside the storing transaction, rows copied: its fence refuses, nothing is kept."""
    first = claimed_by(monkeypatch, job, "first", silent_for=60)
    hold = import_jobs._hold

    def taken_over_meanwhile(held_job):
        # Meanwhile the job was handed back and claimed by another worker (its own connection).
        thread = threading.Thread(target=claim_elsewhere)
        thread.start()
        thread.join()
        hold(held_job)

    def claim_elsewhere():
        try:
            import_jobs._claim(job.pk, "second@host")
        finally:
            connections.close_all()

    monkeypatch.setattr(import_jobs, "_hold", taken_over_meanwhile)
    assert import_jobs._load(first) == import_jobs.SUPERSEDED
    assert not Dataset.objects.exists() and not BalanceRecord.objects.exists()
    assert not AuditEvent.objects.filter(action="dataset.imported").exists()
    state = ImportJob.objects.values("status", "deliveries", "worker").get(pk=job.pk)
    assert state == {"status": "running", "deliveries": 2, "worker": "second@host"}
    assert staged(job)  # for the delivery that holds the job now
    monkeypatch.setattr(import_jobs, "_hold", hold)
    second = ImportJob.objects.select_related("source", "account", "created_by").get(pk=job.pk)
    assert import_jobs._load(second) == "succeeded"
    assert Dataset.objects.get().row_count == BalanceRecord.objects.count() == 2


def test_the_dataset_and_the_jobs_end_commit_together(job, monkeypatch):
    """Dead between storing and ending (here: the end fails): neither is kept."""
    claimed = claimed_by(monkeypatch, job, "first")

    def end_fails(held_job, result):
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(import_jobs, "_succeeded", end_fails)
    assert import_jobs._load(claimed) == "failed"
    assert not Dataset.objects.exists() and not BalanceRecord.objects.exists()


def test_a_thawed_delivery_after_the_next_one_loaded_the_file_changes_nothing(
    job,
    monkeypatch,
    swept,
):
    first = claimed_by(monkeypatch, job, "first", silent_for=60)
    swept()
    assert import_jobs.execute_import(job.pk, worker="second@host") == "succeeded"
    done = ImportJob.objects.values("status", "message", "created", "deliveries").get(pk=job.pk)
    assert import_jobs._load(first) == import_jobs.SUPERSEDED  # its file is gone, too
    assert (
        ImportJob.objects.values("status", "message", "created", "deliveries").get(pk=job.pk)
        == done
    )
    assert Dataset.objects.count() == 1


def test_a_job_whose_workers_keep_dying_is_given_up(
    queue,
    job,
    monkeypatch,
    swept,
):
    for attempt in range(1, claim_sweep.MAX_DELIVERIES + 1):
        claimed_by(monkeypatch, job, f"dead-{attempt}", f"w{attempt}@host", silent_for=60)
        assert [h.fence for h in swept()] == [{"deliveries": attempt}]
    assert queue() == claim_sweep.MAX_DELIVERIES
    assert import_jobs.execute_import(job.pk, worker="w4@host") == "failed"
    job.refresh_from_db()
    assert (job.deliveries, job.message) == (claim_sweep.MAX_DELIVERIES + 1, import_jobs.GIVEN_UP)
    assert not Dataset.objects.exists() and not staged(job)


def test_import_jobs_are_registered_with_the_sweep():
    assert import_sweep.IMPORTS in claim_sweep.registered()
