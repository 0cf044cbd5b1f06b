"""Import jobs: queued by the page and the API, loaded once by a worker, shown to their uploader.

The worker's part is called here as the task calls it (`import_jobs.execute_import`); a real
worker runs it in test_long_work.py and below, for a task delivered twice.
"""

import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from audit.models import AuditEvent
from reconciliation.datasets import import_jobs, staging
from reconciliation.models import Dataset, ImportJob
from tests.reconciliation.datasets.upload_requests import post
from tests.reconciliation.ingest_samples import BALANCES

pytestmark = pytest.mark.django_db

BAD = "account,asset,quantity,as_of\nmain,BTC,1;5,x\n"


@pytest.fixture(autouse=True)
def _staging(settings, tmp_path):
    settings.UPLOAD_STAGING_DIR = tmp_path / "uploads"


@pytest.fixture
def api(make_user):
    def client_for(*roles, user=None):
        client = APIClient()
        client.force_authenticate(user or make_user(*roles))
        return client

    return client_for


def run_queued() -> list[str]:
    return [import_jobs.execute_import(job.pk) for job in ImportJob.objects.filter(status="queued")]


def test_a_small_file_still_loads_in_the_request(api, book):
    response = post(api("risk"))
    assert response.status_code == 201 and response.json()["created"] is True
    assert not ImportJob.objects.exists()


def test_a_file_over_the_limit_is_queued_and_its_job_tells_the_outcome(api, book, settings):
    settings.IMPORT_API_SYNC_MAX_BYTES = len(BALANCES) - 1
    client = api("risk")
    response = post(client)
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get()
    assert response["Location"] == f"/api/imports/{job.pk}/"
    assert response.json()["status"] == "queued" and response.json()["dataset"] is None
    assert not Dataset.objects.exists()  # nothing loaded in the request
    assert AuditEvent.objects.filter(action="dataset.import_queued", object_id=str(job.pk)).exists()
    assert run_queued() == ["succeeded"]
    body = client.get(response["Location"]).json()
    dataset = Dataset.objects.get()
    assert body["status"] == "succeeded" and body["created"] is True
    assert body["dataset"]["id"] == dataset.pk and body["dataset"]["row_count"] == 2
    assert body["message"] == f"Loaded dataset {dataset.pk}: 2 rows."


def test_prefer_respond_async_queues_any_file(api, book):
    response = post(api("risk"), HTTP_PREFER="respond-async, wait=10")
    assert response.status_code == 202
    assert response["Preference-Applied"] == "respond-async"
    assert ImportJob.objects.get().status == "queued" and not Dataset.objects.exists()


def test_the_same_idempotency_key_gives_the_same_job(api, book):
    client = api("risk")
    first = post(client, HTTP_PREFER="respond-async", HTTP_IDEMPOTENCY_KEY="k-1")
    again = post(client, HTTP_PREFER="respond-async", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"] and ImportJob.objects.count() == 1
    assert again.json()["url"] == first["Location"] == f"/api/imports/{first.json()['id']}/"


def test_a_refused_file_fails_its_job_with_the_errors_and_stores_nothing(api, book, settings):
    client = api("risk")
    response = post(client, BAD, HTTP_PREFER="respond-async")
    assert response.status_code == 202
    assert run_queued() == ["failed"]
    body = client.get(response["Location"]).json()
    assert body["status"] == "failed" and body["dataset"] is None
    assert body["message"].startswith("Nothing was loaded: 2 errors found")
    assert body["error_count"] == 2
    assert {error["value"] for error in body["errors"]} == {"1;5", "x"}
    assert not Dataset.objects.exists()
    job = ImportJob.objects.get()
    assert not (settings.UPLOAD_STAGING_DIR / "jobs" / job.staged_name).exists()


def test_a_target_the_format_does_not_fit_is_refused_before_queueing(api, kraken):
    response = api("risk").post(
        "/api/datasets/",
        {"source": "kraken", "account": "main", "format": "coinbase",
         "file": SimpleUploadedFile("c.csv", b"x")},
        format="multipart", HTTP_PREFER="respond-async",
    )  # fmt: skip
    assert response.status_code == 422 and not ImportJob.objects.exists()


def test_an_import_job_is_its_uploaders_alone(api, book, make_user):
    post(api("risk"), HTTP_PREFER="respond-async")
    job = ImportJob.objects.get()
    assert api("risk").get(f"/api/imports/{job.pk}/").status_code == 404
    assert api("finance").get(f"/api/imports/{job.pk}/").status_code == 403
    assert api("risk").get("/api/imports/424242/").status_code == 404


def test_a_task_delivered_twice_loads_once(api, book):
    post(api("risk"), HTTP_PREFER="respond-async")
    job = ImportJob.objects.get()
    assert import_jobs.execute_import(job.pk, worker="a@host") == "succeeded"
    assert import_jobs.execute_import(job.pk, worker="b@host") == "skipped"
    job.refresh_from_db()
    assert job.deliveries == 1 and job.worker == "a@host" and Dataset.objects.count() == 1


def test_a_job_redelivered_while_running_is_taken_over_by_the_new_delivery(api, book):
    """Celery redelivers only what no live delivery acknowledged (its pool process died, or the
    visibility timeout passed): the new one takes the job, even on a worker still beating."""
    post(api("risk"), HTTP_PREFER="respond-async")
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(status="running", worker="a@host", deliveries=1)
    assert import_jobs.execute_import(job.pk, worker="a@host") == "succeeded"
    job.refresh_from_db()
    assert job.deliveries == 2 and Dataset.objects.count() == 1


def test_a_job_whose_worker_died_is_loaded_by_the_next_delivery(api, book):
    post(api("risk"), HTTP_PREFER="respond-async")
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(status="running", worker="gone@host", deliveries=1)
    assert import_jobs.execute_import(job.pk, worker="b@host") == "succeeded"
    job.refresh_from_db()
    assert job.deliveries == 2 and job.worker == "b@host" and Dataset.objects.count() == 1


def confirm(client, book):
    """Preview the book's balances on the upload page and press Load (the job is queued)."""
    preview = client.post(
        "/datasets/upload/",
        {"source": "book", "account": book.pk, "format": "generic-balances",
         "file": SimpleUploadedFile("book.csv", BALANCES.encode())},
    )  # fmt: skip
    return client.post("/datasets/upload/confirm/", {"token": preview.context["token"]})


def test_a_confirmed_file_outlives_the_hourly_sweep_of_previews(client_as, book, settings):
    client = client_as("risk")
    response = confirm(client, book)
    job = ImportJob.objects.get()
    assert response["Location"] == f"/datasets/imports/{job.pk}/"
    path = settings.UPLOAD_STAGING_DIR / "jobs" / job.staged_name
    old = time.time() - staging.MAX_AGE - 60
    os.utime(path, (old, old))  # the queue was long
    staging.stage(b"another preview", {})  # which sweeps expired previews
    assert path.exists()
    assert run_queued() == ["succeeded"] and not path.exists()


def test_the_job_page_follows_the_import_then_links_the_dataset(client_as, book):
    client = client_as("risk")
    location = confirm(client, book)["Location"]
    queued = client.get(location, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-status="queued"' in queued and 'hx-trigger="every 1s"' in queued
    assert "<script" not in client.get(location).content.decode().split("</head>")[1]
    assert client_as("risk").get(location).status_code == 404  # not another uploader's
    run_queued()
    done = client.get(location, HTTP_HX_REQUEST="true").content.decode()
    dataset = Dataset.objects.get()
    assert 'data-status="succeeded"' in done and "hx-trigger" not in done
    assert f'href="/datasets/{dataset.pk}/"' in done


def test_a_refused_import_shows_its_errors_on_the_job_page(client_as, book, settings):
    client = client_as("risk")
    location = confirm(client, book)["Location"]
    # What the worker reads refuses to load (the page must say why, row by row).
    job = ImportJob.objects.get()
    (settings.UPLOAD_STAGING_DIR / "jobs" / job.staged_name).write_text(BAD)
    assert run_queued() == ["failed"]
    page = client.get(location).content.decode()
    assert "Nothing was loaded" in page and "1;5" in page and "quantity" in page
    assert not Dataset.objects.exists()


def test_a_file_gone_before_the_worker_came_fails_clearly(api, book, settings):
    post(api("risk"), HTTP_PREFER="respond-async")
    job = ImportJob.objects.get()
    staging.discard_job_file(job.staged_name)
    assert run_queued() == ["failed"]
    job.refresh_from_db()
    assert "no longer kept" in job.message and not Dataset.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_delivered_twice_to_two_worker_processes_stores_one_dataset(api, book, settings):
    from reconciliation.tasks import execute_import
    from tests.worker import sending_to, worker_process

    env = {"UPLOAD_STAGING_DIR": str(settings.UPLOAD_STAGING_DIR)}
    with worker_process(concurrency=2, extra_env=env) as worker, sending_to(worker.queue):
        response = post(api("risk"), HTTP_PREFER="respond-async")  # queued once on commit
        job = ImportJob.objects.get(pk=response.json()["id"])
        duplicate = execute_import.apply_async((job.pk,), queue=worker.queue)  # and again
        # Either may claim the job first: this copy stores it, finds it done, or is taken
        # over by the other (which then stores it).
        assert duplicate.get(timeout=60) in ("succeeded", "skipped", "superseded")
        deadline = time.monotonic() + 60
        while ImportJob.objects.get(pk=job.pk).is_active and time.monotonic() < deadline:
            time.sleep(0.1)
    job.refresh_from_db()
    assert job.status == "succeeded", (job.message, worker.log()[-3000:])
    # The second delivery found the job done (1), or took it over and the first stored nothing.
    assert job.deliveries in (1, 2) and Dataset.objects.count() == 1
    assert AuditEvent.objects.filter(action="dataset.imported").count() == 1


@pytest.fixture
def broker_down():
    """The app's broker is a port where nothing listens (as when Redis is down)."""
    from config.celery import app

    saved = app.conf.broker_url, app._pool, app.amqp._producer_pool
    app._pool = app.amqp._producer_pool = None  # new ones, for the new address
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    yield
    app.conf.broker_url, app._pool, app.amqp._producer_pool = saved


@pytest.mark.django_db(transaction=True)
def test_a_job_the_broker_cannot_take_fails_clearly_not_with_a_500(api, book, broker_down):
    response = post(api("risk"), HTTP_PREFER="respond-async")
    assert response.status_code == 202 and response.json()["status"] == "failed"
    job = ImportJob.objects.get()
    assert job.status == "failed" and "could not be queued" in job.message
    assert not Dataset.objects.exists()
    assert not (staging._jobs_folder() / job.staged_name).exists()
