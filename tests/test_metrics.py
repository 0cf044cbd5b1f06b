"""/metrics (SPEC 7.1): Prometheus text, from prometheus-client's multiprocess files (events, in
whichever process they happen) and from the database and Redis (states, read when scraped)."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery import current_app
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families

from config import metrics
from corrections import outbox
from corrections import services as corrections
from corrections.models import Correction, Delivery
from reconciliation.models import Break, Run
from reports import building
from reports import services as reports
from reports.scope import Wanted
from tests import worker as worker_helpers
from tests.demo_runs import finished_position_run
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "scraper-token-0123456789abcdef"


@pytest.fixture
def scraper(client, settings):
    """Scrape /metrics with the token; the samples by (name, labels)."""
    settings.METRICS_TOKEN = TOKEN

    def scrape() -> dict[tuple[str, tuple], float]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples
        }

    return scrape


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


EVENTS = tuple(
    "recondesk_" + name
    for name in ("run_duration_seconds", "breaks_found", "report_build_seconds", "outbox_delivery")
)


def events(samples) -> dict:
    """The samples of the event metrics (those kept in the processes' files)."""
    return {key: number for key, number in samples.items() if key[0].startswith(EVENTS)}


# --- Who may read them -------------------------------------------------------------------------


def test_a_scraper_bearing_the_token_reads_them(scraper):
    assert (
        value(scraper(), "recondesk_queue_depth", queue=django_settings.CELERY_TASK_DEFAULT_QUEUE)
        >= 0
    )


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Token {TOKEN}", f"Basic {TOKEN}"]
)
def test_without_the_token_anonymous_callers_get_401(client, settings, authorization):
    settings.METRICS_TOKEN = TOKEN
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"recondesk_" not in response.content


def test_no_token_is_accepted_when_none_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer").status_code == 401


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("risk", 403), ("finance", 403),
                                              (None, 403)])  # fmt: skip
def test_signed_in_admins_read_them_other_roles_do_not(client_as, settings, role, status):
    settings.METRICS_TOKEN = TOKEN
    caller = client_as(role) if role else client_as()
    response = caller.get("/metrics")
    assert response.status_code == status
    assert (b"recondesk_runs" in response.content) == (status == 200)


def test_metrics_refuse_post(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


# --- States: the database and Redis now ----------------------------------------------------------


def test_runs_corrections_and_the_outbox_backlog_are_the_databases(scraper, make_user):
    run = finished_position_run()
    items = list(Break.objects.filter(last_seen_run=run, suggested_value__isnull=False)[:2])
    proposed = [corrections.propose(item, by=make_user("risk"), reason="metrics") for item in items]
    corrections.reject(proposed[0], by=make_user("risk"), reason="not this one")
    Run.objects.create(
        type="trades", internal_dataset=run.internal_dataset, external_dataset=run.external_dataset,
        rule_set_version=run.rule_set_version, as_of=run.as_of,
    )  # fmt: skip
    receiver = Receiver().start()
    try:
        outbox.create_endpoint(name="trading", url=receiver.url, by=make_user("admin"))
        outbox.publish("correction.applied", proposed[1], {"a": "1"})  # relayed after commit
        samples = scraper()
    finally:
        receiver.stop()

    for status in Run.Status.values:
        for type_ in ("position", "trades"):
            expected = Run.objects.filter(type=type_, status=status).count()
            assert value(samples, "recondesk_runs", type=type_, status=status) == expected
    assert value(samples, "recondesk_runs", type="position", status="succeeded") == 1
    assert value(samples, "recondesk_runs", type="trades", status="queued") == 1
    for status in Correction.Status.values:
        expected = Correction.objects.filter(status=status).count()
        assert value(samples, "recondesk_corrections", status=status) == expected
    assert value(samples, "recondesk_corrections", status="rejected") == 1
    assert value(samples, "recondesk_outbox_backlog") == Delivery.objects.count() == 1
    assert value(samples, "recondesk_outbox_given_up") == 0
    assert 0 <= value(samples, "recondesk_outbox_oldest_pending_age_seconds") < 60
    assert all(samples[key] == 0 for key in samples if key[0] == "recondesk_metrics_reader_failed")


def test_queue_depth_is_the_tasks_waiting_in_redis(scraper, settings):
    queue = f"test-depth-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    for _ in range(3):
        current_app.send_task("audit.export_head", queue=queue)
    current_app.send_task("audit.export_head", queue=queue, priority=6)
    try:
        assert value(scraper(), "recondesk_queue_depth", queue=queue) == 4
    finally:
        redis.Redis.from_url(settings.REDIS_URL).delete(queue, f"{queue}\x06\x166")


# --- Events: counted where they happen, in any process -------------------------------------------


def test_a_failed_webhook_delivery_is_counted(scraper, make_user):
    run = finished_position_run()
    item = Break.objects.filter(last_seen_run=run, suggested_value__isnull=False).first()
    correction = corrections.propose(item, by=make_user("risk"), reason="metrics")
    receiver = Receiver(answer=lambda number: (500, False)).start()
    try:
        outbox.create_endpoint(name="trading", url=receiver.url, by=make_user("admin"))
        outbox.publish("correction.applied", correction, {"a": "1"})
        before = value(scraper(), "recondesk_outbox_delivery_failures_total", outcome="retrying")
        assert outbox.relay().retrying == 1
        after = scraper()
    finally:
        receiver.stop()
    assert value(after, "recondesk_outbox_delivery_failures_total", outcome="retrying") == (
        before + 1
    )
    assert value(after, "recondesk_outbox_backlog") == 1  # it waits for its retry


def test_a_report_build_is_timed_by_format_and_outcome(scraper, make_user, settings, tmp_path):
    settings.REPORTS_DIR = tmp_path / "reports"
    run = finished_position_run()
    name = "recondesk_report_build_seconds"
    before = scraper()
    report = reports.request_report(Wanted(run_id=run.pk), format_="csv", by=make_user("risk"))
    assert building.build(report.pk, worker="test") == {"ended": True}
    report.refresh_from_db()
    after = scraper()
    labels = {"format": "csv", "status": "ready"}
    assert value(after, f"{name}_count", **labels) == value(before, f"{name}_count", **labels) + 1
    took = value(after, f"{name}_sum", **labels) - value(before, f"{name}_sum", **labels)
    assert 0 < took < 60
    assert abs(took - report.build_ms / 1000) < 0.5


def test_another_process_observations_are_summed_into_the_scrape(scraper):
    """A second process (as a gunicorn worker or a Celery pool process is) writes its own file
    in PROMETHEUS_MULTIPROC_DIR; the scrape, in this process, adds it up."""
    name = "recondesk_report_build_seconds"
    labels = {"format": "pdf", "status": "failed"}
    before = scraper()
    script = (
        "import django, os; django.setup()\n"
        "from reports import metrics\n"
        "print(os.getpid())\n"
        "metrics.build_ended(format_='pdf', status='failed', seconds=2.5)\n"
        "metrics.build_ended(format_='pdf', status='failed', seconds=40)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": worker_helpers.test_database_url(),
        "REDIS_URL": django_settings.REDIS_URL,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    # Its own file, named by host and process id (containers sharing the folder number their
    # processes alike).
    pid = int(done.stdout.decode().split()[-1])
    assert (
        Path(django_settings.PROMETHEUS_MULTIPROC_DIR)
        / f"histogram_{metrics.process_identity(pid)}.db"
    ).is_file()
    after = scraper()
    assert value(after, f"{name}_count", **labels) == value(before, f"{name}_count", **labels) + 2
    assert value(after, f"{name}_sum", **labels) == value(before, f"{name}_sum", **labels) + 42.5
    bucket = {**labels, "le": "5.0"}
    assert value(after, f"{name}_bucket", **bucket) == value(before, f"{name}_bucket", **bucket) + 1

    # A server starting folds the files of processes gone into one: the sums stay as they were.
    folder = Path(django_settings.PROMETHEUS_MULTIPROC_DIR)
    assert metrics.compact_dead_processes(folder) >= 1
    assert not (folder / f"histogram_{metrics.process_identity(pid)}.db").exists()
    assert list(folder.glob("histogram_*-archive.db"))
    assert events(scraper()) == events(after)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_executed_by_a_worker_is_timed_and_its_breaks_counted(scraper, make_user):
    from reconciliation.demo import data as demo_data
    from reconciliation.models import Dataset
    from reconciliation.runs import services as runs

    ids = demo_data.load()
    name, labels = "recondesk_run_duration_seconds", {"type": "position", "status": "succeeded"}
    before = scraper()
    with worker_helpers.worker_process() as worker, worker_helpers.sending_to(worker.queue):
        run = runs.start_run(
            type="position",
            internal=Dataset.objects.get(pk=ids["book balances"]),
            external=Dataset.objects.get(pk=ids["kraken ledgers"]),
        )
        run = worker_helpers.wait_until_ended(run, worker)
        # Counted just after the end commits, which the row shows first: a moment to write it.
        deadline = time.monotonic() + 10
        while (after := scraper()) and time.monotonic() < deadline:
            if value(after, f"{name}_count", **labels) > value(before, f"{name}_count", **labels):
                break
            time.sleep(0.1)
    assert run.status == "succeeded" and run.by_severity
    assert value(after, f"{name}_count", **labels) == value(before, f"{name}_count", **labels) + 1
    took = value(after, f"{name}_sum", **labels) - value(before, f"{name}_sum", **labels)
    assert took == pytest.approx((run.finished_at - run.started_at).total_seconds(), abs=0.01)
    for severity, count in run.by_severity.items():
        labels = {"severity": severity, "type": "position"}
        found = "recondesk_breaks_found_total"
        assert value(after, found, **labels) == value(before, found, **labels) + count
    assert value(after, "recondesk_runs", type="position", status="succeeded") == 1
