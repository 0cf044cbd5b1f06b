"""Long work never runs inside a web request: real gunicorn, a real worker, files that take long.

Gunicorn runs with config/gunicorn.py but its `--timeout` lowered to TIMEOUT seconds, so that
work taking longer than that shows what a 30 s timeout would do to a file ten times as large.
"""

from __future__ import annotations

import csv
import io
import socket
import time

import polars as pl
import pytest
import requests
import requests.adapters
from django.db import connection
from django.utils import timezone
from urllib3.connection import HTTPConnection

from reconciliation.demo import data as demo_data
from reconciliation.models import Account, Dataset, ImportJob, Run, Source, TradeRecord
from reconciliation.runs import match_store
from reconciliation.runs import services as runs
from tests.web_server import gunicorn_process, hidden_fields, signed_in
from tests.worker import sending_to, worker_process

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Seconds: gunicorn's --timeout in these tests. Not 1: a gthread worker's main loop wakes about
# once a second to send its heartbeat, so a 1 s timeout races that loop on a busy machine and
# kills an idle worker that is doing nothing wrong.
TIMEOUT = 3
IMPORT_ROWS = 300_000  # about 23 MB: 3 to 5 s to load (1 to 1.5 s per 100,000 rows)
MATCHES = 100_000  # a matches CSV of 8 MB: twice TIMEOUT or more to a slow client (about 7 s)


@pytest.fixture
def staging_dir(settings, tmp_path):
    settings.UPLOAD_STAGING_DIR = tmp_path / "uploads"
    return settings.UPLOAD_STAGING_DIR


def trades_file(rows: int) -> bytes:
    lines = ["trade_id,account,pair,side,quantity,price,fee,fee_asset,executed_at,order_id"]
    lines += [
        f"T{i},main,BTC/USD,buy,0.{i % 997 + 1},60000.{i % 89},1.25,USD,"
        f"2026-01-02T03:{i // 60 % 60:02d}:{i % 60:02d}Z,O{i}"
        for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_a_confirmed_upload_that_outlasts_the_timeout_loads_on_a_worker(staging_dir, make_user):
    book = Source.objects.create(code="book", name="Internal book", kind="internal")
    account = Account.objects.create(source=book, code="main")
    user = make_user("risk")
    data = trades_file(IMPORT_ROWS)
    env = {"UPLOAD_STAGING_DIR": str(staging_dir)}
    with (
        worker_process(extra_env=env) as worker,
        gunicorn_process(timeout=TIMEOUT, extra_env={**env, "CELERY_QUEUE": worker.queue}) as web,
    ):
        browser = signed_in(web, user)
        form = hidden_fields(browser.get(web.url + "/datasets/upload/").text)
        preview = browser.post(
            web.url + "/datasets/upload/",
            data={**form, "source": "book", "account": account.pk, "format": "generic-trades"},
            files={"file": ("trades.csv", data)},
        )
        assert preview.status_code == 200, preview.text[-2000:]
        assert f"{IMPORT_ROWS} rows for" in preview.text, preview.text[-3000:]
        started = time.monotonic()
        confirmed = browser.post(
            web.url + "/datasets/upload/confirm/",
            data=hidden_fields(preview.text),
            allow_redirects=False,
        )
        answered_in = time.monotonic() - started
        assert confirmed.status_code == 302, confirmed.text[-2000:]
        assert answered_in < TIMEOUT  # the request queued the import; it did not load it
        job = ImportJob.objects.get()
        assert confirmed.headers["Location"] == f"/datasets/imports/{job.pk}/"

        seen = []  # what the page's status box showed, polled as htmx polls it
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            box = browser.get(web.url + confirmed.headers["Location"], headers={"HX-Request": "1"})
            assert box.status_code == 200
            seen.append(box.text)
            if 'data-status="succeeded"' in box.text or 'data-status="failed"' in box.text:
                break
            time.sleep(0.2)
        page = browser.get(web.url + confirmed.headers["Location"]).text
    job.refresh_from_db()
    assert job.status == "succeeded", (job.message, worker.log()[-3000:])
    assert any('data-status="running"' in box and job.phase != "" for box in seen)
    assert any("reading, checking and storing the file" in box for box in seen)
    # The request only queued the work: the worker spent several times as long on it as the
    # request took to answer (a machine fast enough to load it in under TIMEOUT still shows it).
    assert (job.finished_at - job.started_at).total_seconds() > 3 * answered_in
    dataset = Dataset.objects.get()
    assert job.dataset == dataset and job.worker == worker.hostname
    assert dataset.row_count == TradeRecord.objects.filter(dataset=dataset).count() == IMPORT_ROWS
    assert f"Loaded dataset {dataset.pk}: {IMPORT_ROWS} rows." in page
    assert f'href="/datasets/{dataset.pk}/"' in page
    assert not (staging_dir / "jobs" / job.staged_name).exists()  # the worker is done with it
    assert "WORKER TIMEOUT" not in web.log()


def large_matches(count: int) -> pl.DataFrame:
    ids = [f"M{i:07d}" for i in range(count)]
    text = {name: ["x"] * count for name in ("rule", "account", "pair", "side")}
    number = pl.Series(["1.5"] * count).cast(pl.Decimal(38, 18))
    return pl.DataFrame(
        {
            "match_id": ids, **text, "internal_ids": [[f"B{i}"] for i in range(count)],
            "external_ids": [[f"E{i}"] for i in range(count)],
            **{name: number for name in ("internal_quantity", "external_quantity",
                                         "internal_price", "external_price", "internal_fee",
                                         "external_fee")},
            "internal_fee_asset": ["USD"] * count, "external_fee_asset": ["USD"] * count,
        }
    )  # fmt: skip


@pytest.fixture
def large_run():
    """A succeeded trades run (executed by a real worker) with MATCHES matches stored."""
    ids = demo_data.load()
    with worker_process() as worker, sending_to(worker.queue):
        run = runs.start_run(
            type="trades",
            internal=Dataset.objects.get(pk=ids["book trades"]),
            external=Dataset.objects.get(pk=ids["kraken trades"]),
        )
        deadline = time.monotonic() + 120
        while Run.objects.get(pk=run.pk).is_active and time.monotonic() < deadline:
            time.sleep(0.2)
    run.refresh_from_db()
    assert run.status == "succeeded", run.message
    # As large as runs get (the CSV gunicorn cut had 475,838): its matches replaced by MATCHES.
    with connection.cursor() as cursor:
        match_store.delete(cursor, run.pk)
        match_store.store(cursor, run.pk, 0, large_matches(MATCHES))
    Run.objects.filter(pk=run.pk).update(match_count=MATCHES, finished_at=timezone.now())
    return run


class SmallWindow(requests.adapters.HTTPAdapter):
    """Connections whose receive buffer is `size` bytes."""

    def __init__(self, size: int):
        self.size = size
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["socket_options"] = [
            *HTTPConnection.default_socket_options,
            (socket.SOL_SOCKET, socket.SO_RCVBUF, self.size),
        ]
        super().init_poolmanager(*args, **kwargs)


def download(web, user, path: str, pause: float = 0.05, window: int | None = None
             ) -> tuple[bytes, float, str]:  # fmt: skip
    """The body as far as it came, the seconds it took, and why it ended early ("": whole).

    `pause`: seconds between 64 KiB reads (a slow line). `window`: the client socket's receive
    buffer in bytes; left to the kernel, loopback buffers can grow to hold megabytes, so a
    server can finish writing long before a slow client has read it."""
    browser = signed_in(web, user)
    if window:
        adapter = SmallWindow(window)
        browser.mount("http://", adapter)
    started = time.monotonic()
    response = browser.get(web.url + path, stream=True, timeout=120)
    assert response.status_code == 200
    assert response.headers["Server"] == "recondesk"  # not gunicorn, no version
    body, cut = b"", ""
    try:
        for piece in response.iter_content(chunk_size=1 << 16):
            body += piece
            time.sleep(pause)  # a client on a slow line: the download outlasts the timeout
    except requests.exceptions.ChunkedEncodingError as exc:
        cut = str(exc)
    return body, time.monotonic() - started, cut


def test_a_matches_csv_that_outlasts_the_timeout_arrives_whole(large_run, make_user):
    with gunicorn_process(timeout=TIMEOUT) as web:
        body, took, cut = download(web, make_user("finance"), f"/runs/{large_run.pk}/matches.csv")
    assert cut == "", web.log()[-2000:]
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert took > TIMEOUT  # longer than gunicorn's timeout, and still whole
    assert len(rows) == MATCHES
    assert rows[0]["match_id"] == "M0000000" and rows[-1]["match_id"] == f"M{MATCHES - 1:07d}"
    assert "WORKER TIMEOUT" not in web.log()


def test_with_the_sync_worker_class_the_same_download_is_cut(large_run, make_user):
    """Why config/gunicorn.py picks gthread: the sync worker is killed mid-download."""
    sync = ["--worker-class", "sync", "--threads", "1"]  # threads > 1 would mean gthread
    with gunicorn_process(timeout=TIMEOUT, args=sync) as web:
        # Slower, with a small window: the worker must still be writing when the timeout
        # comes, whatever buffers this machine's loopback grows (it once held the whole file).
        body, _took, cut = download(web, make_user("finance"), f"/runs/{large_run.pk}/matches.csv",
                                    pause=0.2, window=64 * 1024)  # fmt: skip
        time.sleep(0.5)  # the arbiter's log line
    assert cut and body.count(b"\n") < MATCHES
    assert "WORKER TIMEOUT" in web.log()
