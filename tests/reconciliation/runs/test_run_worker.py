"""Runs executed by a real Celery worker process, through Redis."""

import json

import pytest
from django.core.management import call_command

from reconciliation.demo import data as demo_data
from reconciliation.models import BreakObservation, Run
from reconciliation.tasks import execute_run
from tests.worker import running_worker, sending_to

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_queue():
    with running_worker(concurrency=2) as (queue, _hostname), sending_to(queue):
        yield queue


def test_command_starts_a_run_that_a_worker_executes(worker_queue, capsys):
    ids = demo_data.load()
    call_command(
        "run_reconciliation", "--type", "position", "--internal", ids["book balances"],
        "--external", ids["kraken ledgers"], "--prices", ids["prices"], "--timeout", "120",
        "--json",
    )  # fmt: skip
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = Run.objects.get(pk=line["run_id"])
    assert line == {
        "run_id": run.pk, "status": "succeeded", "breaks": run.break_count,
        "by_severity": run.by_severity, "prices_dataset": ids["prices"],
    }  # fmt: skip
    assert run.break_count >= 4


def test_the_same_task_delivered_twice_to_two_worker_processes(worker_queue):
    from reconciliation.models import Dataset
    from reconciliation.runs import services as runs

    ids = demo_data.load()
    run = runs.start_run(
        type="trades",
        internal=Dataset.objects.get(pk=ids["book trades"]),
        external=Dataset.objects.get(pk=ids["kraken trades"]),
    )
    duplicates = [execute_run.apply_async(args=[run.pk], queue=worker_queue) for _ in range(2)]
    statuses = [result.get(timeout=120) for result in duplicates]
    run.refresh_from_db()
    assert run.status == "succeeded" and "succeeded" in statuses
    assert BreakObservation.objects.filter(run=run).count() == run.break_count
