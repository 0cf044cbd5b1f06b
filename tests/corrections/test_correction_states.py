"""Corrections as a state machine (hypothesis): whatever people and runs do, in any order, the
invariants hold after every step.

- only the transitions `corrections.transitions.ALLOWED` has are ever taken;
- nobody approves a correction they proposed, and only risk users approve;
- an applied correction has exactly one adjustment set, a rolled-back one exactly one reversal;
- the effective book equals the records plus the applied corrections (rolled-back ones net out);
- the audit chain verifies.

RECONDESK_STATE_EXAMPLES / RECONDESK_STATE_STEPS set the size (200 x 50 in every suite run).
"""

import contextlib
import os
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from audit import selectors as audit_selectors
from config.errors import DomainError
from corrections import services, transitions
from corrections.models import Approval, Correction
from reconciliation.book import selectors as book
from reconciliation.datasets import frames
from reconciliation.models import AdjustmentSet, Break
from tests.demo_runs import finished_position_run

EXAMPLES = int(os.environ.get("RECONDESK_STATE_EXAMPLES", "200"))
STEPS = int(os.environ.get("RECONDESK_STATE_STEPS", "50"))

pytestmark = pytest.mark.django_db


class Desk(RuleBasedStateMachine):
    """People and a run working on one run's breaks; each example rolled back afterwards."""

    world: dict  # set by the test: the run, its breaks, the people, the book as loaded

    def __init__(self):
        super().__init__()
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        self.seen: dict[int, str] = {}

    def teardown(self):
        assert audit_selectors.verify_chain().ok
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    def _attempt(self, call, *args, **kwargs):
        # A refusal is a fine answer: the invariants check that it changed nothing.
        with contextlib.suppress(DomainError):
            call(*args, **kwargs)

    def _correction(self, n: int):
        ids = list(Correction.objects.order_by("id").values_list("pk", flat=True))
        return Correction.objects.get(pk=ids[n % len(ids)]) if ids else None

    @rule(b=st.integers(0, 9), who=st.integers(0, 9), offset=st.sampled_from([None, "1", "-0.5"]))
    def propose(self, b, who, offset):
        breaks = self.world["breaks"]
        brk = Break.objects.get(pk=breaks[b % len(breaks)])
        value = None if offset is None else (brk.suggested_value or 0) + Decimal(offset)
        user = self.world["people"][who % len(self.world["people"])]
        self._attempt(services.propose, brk, by=user, reason="state machine", corrected_value=value)

    @rule(n=st.integers(0, 99), who=st.integers(0, 9))
    def approve(self, n, who):
        correction = self._correction(n)
        if correction:
            self._attempt(services.approve, correction, by=self._person(who))

    @rule(n=st.integers(0, 99), who=st.integers(0, 9), reason=st.sampled_from(["", "wrong"]))
    def reject(self, n, who, reason):
        correction = self._correction(n)
        if correction:
            self._attempt(services.reject, correction, by=self._person(who), reason=reason)

    @rule(n=st.integers(0, 99), who=st.integers(0, 9), offset=st.sampled_from(["2", "-1"]))
    def revise(self, n, who, offset):
        correction = self._correction(n)
        if correction and correction.corrected_value is not None:
            value = correction.corrected_value + Decimal(offset)
            self._attempt(services.revise, correction, by=self._person(who), reason="revised",
                          corrected_value=value)  # fmt: skip

    @rule(n=st.integers(0, 99), who=st.integers(0, 9))
    def apply(self, n, who):
        correction = self._correction(n)
        if correction:
            self._attempt(services.apply, correction, by=self._person(who))

    @rule(n=st.integers(0, 99), who=st.integers(0, 9))
    def roll_back(self, n, who):
        correction = self._correction(n)
        if correction:
            self._attempt(services.roll_back, correction, by=self._person(who), reason="undo")

    @rule(who=st.integers(0, 9))
    def apply_run(self, who):
        self._attempt(services.apply_run, self.world["run"], by=self._person(who))

    @rule(who=st.integers(0, 9))
    def roll_back_run(self, who):
        self._attempt(
            services.roll_back_run, self.world["run"], by=self._person(who), reason="undo"
        )

    @rule()
    def propose_for_run(self):
        self._attempt(services.propose_for_run, self.world["run"])

    def _person(self, who: int):
        return self.world["people"][who % len(self.world["people"])]

    # The invariants, checked after every step, read the corrections and their approvals once
    # (two queries, not one per correction) and share them: ten thousand steps a run.
    @invariant()
    def corrections_keep_their_invariants(self):
        corrections = list(
            Correction.objects.values(
                "pk", "status", "applied_set_id", "reversal_set_id", "reversal_set__reverses_id",
                "auto_approved", "content_hash", "approvals_required", "created_by_id", "target",
                "delta",
            )
        )  # fmt: skip
        approvals = list(
            Approval.objects.values_list(
                "correction_id", "approver_id", "creator_id", "content_hash"
            )
        )
        self.only_legal_transitions(corrections)
        self.four_eyes(corrections, approvals)
        self.applied_once_and_reversed_once(corrections)
        self.effective_book_is_records_plus_applied(corrections)

    def only_legal_transitions(self, corrections):
        for c in corrections:
            pk, status = c["pk"], c["status"]
            before = self.seen.get(pk)
            assert before is None or before == status or status in transitions.ALLOWED[before], (
                f"correction {pk}: {before} -> {status}"
            )
            self.seen[pk] = status

    def four_eyes(self, corrections, approvals):
        for _, approver, creator, _ in approvals:
            assert approver != creator and approver in self.world["risk"]
        for c in corrections:
            if c["status"] not in ("approved", "applied") or c["auto_approved"]:
                continue
            current = {
                approver
                for correction, approver, _, content_hash in approvals
                if correction == c["pk"] and content_hash == c["content_hash"]
            }
            assert len(current) >= c["approvals_required"] and c["created_by_id"] not in current, c

    def applied_once_and_reversed_once(self, corrections):
        for c in corrections:
            pk, status, applied, reversal = (
                c["pk"], c["status"], c["applied_set_id"], c["reversal_set_id"]
            )  # fmt: skip
            assert (applied is not None) == (status in ("applied", "rolled_back")), pk
            assert (reversal is not None) == (status == "rolled_back"), pk
            assert reversal is None or c["reversal_set__reverses_id"] == applied, pk
        # Every applying set is some correction's (compared here: a NOT IN over the nullable
        # applied_set_id would be true of nothing once any correction is unapplied).
        applying = set(AdjustmentSet.objects.filter(kind="apply").values_list("pk", flat=True))
        assert applying <= {c["applied_set_id"] for c in corrections}, applying

    def effective_book_is_records_plus_applied(self, corrections):
        dataset, assets, loaded = self.world["dataset"], self.world["assets"], self.world["loaded"]
        expected = dict(loaded)
        for c in corrections:
            if c["status"] == "applied":
                expected[c["target"]] = expected.get(c["target"], Decimal(0)) + c["delta"]
        now = book.current_values(dataset, assets, self.world["run"].as_of)
        assert {a: now.get((a, "quantity"), Decimal(0)) for a in assets} == {
            a: expected.get(a, Decimal(0)) for a in assets
        }


def test_corrections_keep_their_invariants_whatever_happens(make_user):
    run = finished_position_run()
    risk = [make_user("risk") for _ in range(3)]
    people = [*risk, make_user("admin"), make_user("finance"), make_user()]
    breaks = list(
        Break.objects.filter(last_seen_run=run).order_by("id").values_list("pk", flat=True)
    )
    assets = sorted(Break.objects.filter(pk__in=breaks).values_list("asset", flat=True))
    dataset = run.internal_dataset
    # Its columnar copy, as the import's task writes after its commit (which never comes in a
    # test's transaction): the selectors then read it as in production, not the records.
    assert frames.prepare(dataset)
    loaded = {a: v for (a, _), v in book.current_values(dataset, assets, run.as_of).items()}
    Desk.world = {"run": run, "breaks": breaks, "people": people, "risk": {u.pk for u in risk},
                  "dataset": dataset, "assets": assets, "loaded": loaded}  # fmt: skip
    run_state_machine_as_test(
        Desk,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
