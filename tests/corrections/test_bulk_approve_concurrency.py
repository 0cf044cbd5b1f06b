"""Bulk approvals at once, on committed transactions: one person's batch sent twice is counted
once (the second refused whole), another person's batch beside it counts, every time.

RECONDESK_BULK_TRIALS sets the trials (10 by default).
"""

import os
import threading

import pytest
from django.db import connections

from corrections import services
from corrections.models import Approval, Correction
from tests.corrections.proposed import propose_all

TRIALS = int(os.environ.get("RECONDESK_BULK_TRIALS", "10"))


def _at_once(calls) -> list:
    """Run each call in a thread of its own, released together; what each returned or raised."""
    start = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def act(index, call):
        try:
            start.wait()
            outcomes[index] = call()
        except Exception as error:  # the outcome under test
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=act, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_a_batch_sent_twice_at_once_is_approved_once(make_user):
    proposed = propose_all(make_user)
    ann, bob = make_user("risk"), make_user("risk")
    batch = list(proposed.two)  # each needs two approvers
    for trial in range(TRIALS):
        ids = [c.pk for c in batch]
        outcomes = _at_once([
            lambda b=batch: services.approve_many(b, by=ann),
            lambda b=batch: services.approve_many(b, by=ann),
            lambda b=batch: services.approve_many(b, by=bob),
        ])  # fmt: skip
        refused = [o for o in outcomes if isinstance(o, Exception)]
        assert len(refused) == 1 and isinstance(refused[0], services.CorrectionRefused), (
            f"trial {trial}: {outcomes!r}"
        )
        assert "Nothing was approved" in refused[0].message
        assert not isinstance(outcomes[2], Exception), f"trial {trial}: bob was refused"
        for pk in ids:
            approvers = set(Approval.objects.filter(correction_id=pk)
                            .values_list("approver_id", flat=True))  # fmt: skip
            assert Approval.objects.filter(correction_id=pk).count() == 2, f"trial {trial}"
            assert approvers == {ann.pk, bob.pk}
        assert set(Correction.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
            "approved"
        }
        # The next trial's batch: the same changes proposed again.
        batch = []
        for correction in Correction.objects.filter(pk__in=ids).select_related("break_record"):
            services.reject(correction, by=ann, reason="next trial")
            batch.append(services.propose(correction.break_record, by=proposed.proposer,
                                          reason=f"trial {trial + 1}"))  # fmt: skip
