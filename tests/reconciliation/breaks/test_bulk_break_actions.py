"""Bulk break actions: all or nothing, and never redirecting off the desk."""

import pytest

from reconciliation.breaks import workflow as break_workflow
from reconciliation.models import Break
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db


def test_bulk_reopen_is_all_or_nothing(demo):
    run = runs.start_run(type="position", internal=demo["book balances"],
                         external=demo["kraken ledgers"])  # fmt: skip
    run_execution.execute_run(run.pk)
    first, second = Break.objects.order_by("pk")[:2]
    break_workflow.accept([first.pk], reason="known lag", by=None)
    with pytest.raises(break_workflow.BreakActionRefused):
        break_workflow.reopen([first.pk, second.pk], by=None)
    first.refresh_from_db()
    assert first.status == "accepted"


def test_bulk_actions_never_redirect_elsewhere(client_as, demo):
    response = client_as("risk").post(
        "/breaks/bulk/", {"action": "investigate", "ids": [], "next": "https://evil.example/"}
    )
    assert response["Location"] == "/breaks/"
