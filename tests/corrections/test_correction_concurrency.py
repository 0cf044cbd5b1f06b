"""Eight people approving and applying one correction at once, on committed transactions:
exactly one application and one adjustment set, every time, and no unhandled error.

RECONDESK_CONCURRENCY_TRIALS sets the trials (200 in every suite run; the note's stress run
used 1,000).
"""

import contextlib
import os
import threading

import pytest
from django.db import connections

from audit import selectors as audit_selectors
from corrections import services
from corrections.models import Correction
from reconciliation.models import AdjustmentSet, Break
from tests.demo_runs import finished_position_run

TRIALS = int(os.environ.get("RECONDESK_CONCURRENCY_TRIALS", "200"))
THREADS = 8


def _at_once(work, people) -> list[Exception]:
    """Run work(person) in one thread per person, released together; unexpected errors."""
    start = threading.Barrier(len(people))
    unexpected = []

    def act(person):
        try:
            start.wait()
            work(person)
        except Exception as error:  # collected, and failed on below
            unexpected.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=act, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return unexpected


def _approve_then_apply(correction_id):
    def work(person):
        correction = Correction(pk=correction_id)
        for step in (services.approve, services.apply):
            # Someone else was first: a refusal is the expected answer.
            with contextlib.suppress(services.CorrectionRefused):
                step(correction, by=person)

    return work


@pytest.mark.django_db(transaction=True)
def test_eight_at_once_apply_a_correction_exactly_once(make_user):
    proposer = make_user("risk")
    people = [make_user("risk") for _ in range(THREADS)]
    run = finished_position_run()
    brk = (Break.objects.filter(last_seen_run=run, suggested_value__isnull=False)
           .exclude(field="value").order_by("id").first())  # fmt: skip
    template = services.propose(
        brk, by=proposer, reason="concurrency", corrected_value=brk.suggested_value
    )
    # Its copies are the trials: the template itself must not stay live beside them.
    if template.status == "applied":
        template = services.roll_back(template, by=people[0], reason="trials start")
    else:
        template = services.reject(template, by=people[0], reason="trials start")
    for trial in range(TRIALS):
        correction = _pending_copy(template, trial)
        unexpected = _at_once(_approve_then_apply(correction.pk), people)
        assert unexpected == [], f"trial {trial}: {unexpected!r}"
        correction.refresh_from_db()
        assert correction.status == "applied", f"trial {trial}"
        assert AdjustmentSet.objects.filter(reason=f"correction {correction.pk}").count() == 1
        assert correction.approvals.count() == 1  # approved once: later approvers were refused
        services.roll_back(correction, by=people[0], reason="next trial")
    assert audit_selectors.verify_chain().ok


def _pending_copy(template: Correction, trial: int) -> Correction:
    """The same change proposed again (the previous trial's is rolled back), one approver."""
    return Correction.objects.create(
        **{f.attname: getattr(template, f.attname) for f in Correction._meta.concrete_fields
           if f.attname not in {"id", "status", "applied_set_id", "reversal_set_id", "applied_at",
                                "rolled_back_at", "approved_at", "auto_approved", "supersedes_id",
                                "approvals_required", "policy_note", "rejection_reason",
                                "rejected_at"}},
        status="pending", approvals_required=1, auto_approved=False,
        policy_note=f"concurrency trial {trial}",
    )  # fmt: skip
