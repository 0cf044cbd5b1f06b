"""A run's corrections built and stored in parts, each part stored while the next is built, are
those built and stored at once: the same content, statuses, adjustments and events, each one
audited once, and the chain verifies."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.selectors import verify_chain
from corrections import outbox, services, task_queue
from corrections.models import Correction, OutboxEvent
from corrections.services import proposing
from reconciliation.models import AdjustmentSet, Run
from tests.corrections.large_books import finished_run

pytestmark = pytest.mark.django_db
ASSETS = 40  # every one a break


@pytest.fixture
def run() -> Run:
    return finished_run(ASSETS)


class Discarded(Exception):
    pass


def _proposed(run: Run) -> list[tuple]:
    return sorted(Correction.objects.filter(run=run).values_list(
        "break_record_id", "status", "content_hash", "original_value", "delta", "impact_rc",
        "portfolio_share_pct", "auto_approved", "approvals_required", "policy_note",
        "validation", "rollback_plan",
    ))  # fmt: skip


def _discarded_proposal(run: Run, monkeypatch, first: int, size: int) -> tuple[list, int]:
    """(what proposing in parts of `first`, then `size` stores, how many queries it makes);
    rolled back."""
    monkeypatch.setattr(proposing, "FIRST_PART_SIZE", first)
    monkeypatch.setattr(proposing, "PART_SIZE", size)
    with pytest.raises(Discarded), transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            services.propose_for_run(run)
        stored = _proposed(run)
        raise Discarded
    assert Correction.objects.count() == 0
    return stored, len(queries)


def test_corrections_stored_in_parts_are_those_stored_at_once(run, monkeypatch):
    at_once, _ = _discarded_proposal(run, monkeypatch, 1000, 1000)  # fewer breaks than a part
    in_parts, queries = _discarded_proposal(run, monkeypatch, 3, 7)  # 3 + 7 * 5 + 2
    assert in_parts == at_once and len(at_once) == ASSETS
    # No query per part (each would wait for the parts queued before it to be stored).
    assert _discarded_proposal(run, monkeypatch, 2, 3) == (at_once, queries)

    outcome = services.propose_for_run(run)
    assert _proposed(run) == at_once and outcome["proposed"] == ASSETS
    applied = Correction.objects.filter(run=run, status="applied")
    assert 0 < applied.count() == outcome["applied"] < ASSETS
    sets = AdjustmentSet.objects.filter(pk__in=applied.values("applied_set"))
    assert sets.count() == applied.count() == OutboxEvent.objects.count()
    audited = AuditEvent.objects.filter(object_type="correction").values_list("object_id")
    assert sorted(int(pk) for (pk,) in audited) == sorted(
        Correction.objects.filter(run=run).values_list("pk", flat=True)
    )
    assert verify_chain([]).ok


def test_parts_cover_every_break_once():
    assert list(proposing._parts(0)) == []
    assert list(proposing._parts(5)) == [(0, 5)]
    first, size = proposing.FIRST_PART_SIZE, proposing.PART_SIZE
    assert list(proposing._parts(first + size + 1)) == [
        (0, first), (first, first + size), (first + size, first + size + 1)
    ]  # fmt: skip


def test_a_run_proposed_in_parts_asks_for_one_relay_of_its_events(
    run, monkeypatch, make_user, django_capture_on_commit_callbacks
):
    outbox.create_endpoint(name="trading", url="http://127.0.0.1:9/hook", by=make_user("admin"))
    monkeypatch.setattr(proposing, "FIRST_PART_SIZE", 3)
    monkeypatch.setattr(proposing, "PART_SIZE", 7)
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = services.propose_for_run(run)
    assert outcome["applied"] > 1
    assert sum(1 for c in callbacks if c is task_queue.relay_outbox) == 1
