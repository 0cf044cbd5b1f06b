"""Runs redelivered after a worker died, and runs of older data, leave break statuses right."""

import pytest

from reconciliation.datasets import ingest
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, BreakObservation, Run
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db


def test_a_run_stored_by_a_worker_that_died_before_finishing_is_finished_on_redelivery(demo):
    run = runs.start_run(type="position", internal=demo["book balances"],
                         external=demo["kraken ledgers"])  # fmt: skip
    run_execution.execute_run(run.pk)
    Run.objects.filter(pk=run.pk).update(status="running", finished_at=None)  # died here
    assert run_execution.execute_run(run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.status == "succeeded" and run.finished_at is not None
    assert BreakObservation.objects.filter(run=run).count() == run.break_count


def test_a_run_of_older_data_changes_no_status(demo):
    def run_at(internal):
        run = runs.start_run(type="position", internal=internal, external=demo["kraken ledgers"])
        run_execution.execute_run(run.pk)
        return Run.objects.get(pk=run.pk)

    latest = run_at(demo["book balances"])
    older_book = demo_data.book_balances(demo_data._ledger_rows(), "2026-01-01T00:00:00Z")
    older = ingest.import_file(
        source=demo["book balances"].source, account=demo["book balances"].account,
        format_code="generic-balances", data=older_book.replace(b"main,BTC", b"main,BTC "),
        filename="older.csv",
    ).dataset  # fmt: skip
    Break.objects.filter(last_seen_run=latest).update(status="investigating")
    history = run_at(older)
    assert history.as_of < latest.as_of
    assert set(Break.objects.filter(first_seen_run=latest).values_list("status", flat=True)) == {
        "investigating"
    }
    assert not Break.objects.filter(first_seen_run=history, status="open").exists()
