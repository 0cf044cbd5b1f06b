"""A real worker process takes tasks from Redis and runs them."""

import json
from pathlib import Path

import pytest

from audit import services
from audit.tasks import export_audit_head
from config.celery import app
from tests.worker import running_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_task_sent_through_redis_runs_in_a_worker_process(tmp_path, client_as):
    services.record(action="test.before_export")
    head_file = tmp_path / "worker-heads.jsonl"
    with running_worker() as (queue, hostname):
        result = export_audit_head.apply_async(args=[str(head_file)], queue=queue)
        line = result.get(timeout=60)
        # Worker hostnames are shown to admins only (making one is audited: after the export).
        health = client_as("admin").get("/healthz")
    assert line["sequence"] == 1
    assert json.loads(Path(head_file).read_text().splitlines()[-1]) == line
    assert health.status_code == 200
    assert hostname in health.json()["checks"]["worker"]["detail"]


def test_tasks_are_acknowledged_late_and_rejected_when_a_worker_dies():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] >= 3600
