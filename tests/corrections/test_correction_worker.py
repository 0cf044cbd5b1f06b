"""The whole path on a real worker: a run's breaks get corrections, the automatic ones are
applied, the others approved by one and by two other risk users and applied; the next run shows
those breaks resolved; the run's corrections rolled back at once, the next run shows them
again; the audit chain verifies."""

import time

import pytest

from audit import selectors as audit_selectors
from corrections import services
from corrections.models import Correction
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset, Run
from reconciliation.runs import services as runs
from tests.worker import sending_to, wait_until_ended, worker_process

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _run(ids, worker) -> Run:
    run = runs.start_run(type="position", internal=Dataset.objects.get(pk=ids["book balances"]),
                         external=Dataset.objects.get(pk=ids["kraken ledgers"]))  # fmt: skip
    return wait_until_ended(run, worker, timeout=120)


def _proposed(run: Run, worker, timeout: float = 60) -> list[Correction]:
    """The run's corrections, once the worker's proposal (one transaction) has committed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(Correction.objects.filter(run=run).order_by("id"))
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no corrections for run {run.pk}\n{worker.log()[-4000:]}")


def test_a_run_corrected_through_four_eyes_then_rolled_back(make_user):
    first, second, third = (make_user("risk") for _ in range(3))
    ids = demo_data.load()
    env = {"CORRECTIONS_PROPOSE_AFTER_RUNS": "true"}
    with worker_process(extra_env=env) as worker, sending_to(worker.queue):
        run = _run(ids, worker)
        assert run.status == "succeeded"
        corrections = _proposed(run, worker)
        live = set(
            Break.objects.filter(last_seen_run=run, status="open").values_list("pk", flat=True)
        )
        assert {c.break_record_id for c in corrections} == live
        needs = {c.approvals_required for c in corrections}
        assert needs == {0, 1, 2}, "the demo's breaks span every policy level"
        for correction in corrections:
            if correction.approvals_required == 0:
                assert correction.status == "applied" and correction.auto_approved
                assert "within the auto-correction limits" in correction.policy_note
                continue
            assert correction.status == "pending"
            for approver in (first, second)[: correction.approvals_required]:
                services.approve(correction, by=approver)
        assert services.apply_run(run, by=third) == sum(
            1 for c in corrections if c.approvals_required
        )
        assert set(Correction.objects.filter(run=run).values_list("status", flat=True)) == {
            "applied"
        }

        after = _run(ids, worker)
        assert after.adjustment_count == len(corrections)
        assert Break.objects.filter(pk__in=live, status="resolved").count() == len(live)
        assert Correction.objects.filter(run=after).count() == 0  # nothing left to correct

        assert services.roll_back_run(run, by=first, reason="wrong export") == len(corrections)
        again = _run(ids, worker)
        assert again.adjustment_count == 2 * len(corrections)
        assert again.break_count == run.break_count
        assert Break.objects.filter(pk__in=live, status="open").count() == len(live)
        # Rolled back by a person: no run corrects those breaks by itself again.
        assert services.propose_for_run(again)["proposed"] == 0
        assert Correction.objects.filter(run=again).count() == 0
    assert audit_selectors.verify_chain().ok
