"""Corrections proposed on the demo position run, for the tests of the doors.

The demo's four position breaks give: one correction needing one approver, two needing two,
and one within the auto-correction limits (applied when proposed).
"""

from dataclasses import dataclass

from corrections import services
from corrections.models import Approval, Correction
from reconciliation.models import AdjustmentSet, Break, Run
from tests.demo_runs import finished_position_run


@dataclass
class Proposed:
    run: Run
    proposer: object
    one: Correction  # needs one approver
    two: list[Correction]  # each needs two approvers
    automatic: Correction  # applied when proposed

    def refresh(self) -> None:
        for correction in (self.one, *self.two, self.automatic):
            correction.refresh_from_db()


def propose_all(make_user) -> Proposed:
    proposer = make_user("risk", username="proposer")
    run = finished_position_run()
    made = [
        services.propose(brk, by=proposer, reason="the book missed the exchange's entries")
        for brk in Break.objects.filter(last_seen_run=run).order_by("id")
    ]
    by_needed = {n: [c for c in made if c.approvals_required == n] for n in (0, 1, 2)}
    assert [len(by_needed[n]) for n in (0, 1, 2)] == [1, 1, 2], "the demo data changed"
    return Proposed(run, proposer, by_needed[1][0], by_needed[2], by_needed[0][0])


def state() -> tuple:
    """What a refusal must leave as it was: approvals, adjustment sets, every status."""
    statuses = tuple(Correction.objects.order_by("pk").values_list("pk", "status"))
    return Approval.objects.count(), AdjustmentSet.objects.count(), statuses
