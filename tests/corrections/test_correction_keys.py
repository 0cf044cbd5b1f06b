"""The database itself keeps a correction with its run: judged by the run's rule set version,
changing the run's book, of that book's account (one composite foreign key to the run, which
keeps its book's account; checked at commit), and each adjustment set applied or reversed by one
correction at most."""

import pytest
from django.db import IntegrityError, connection, transaction

from corrections import services
from corrections.models import Correction
from reconciliation.models import Account, Break, Dataset, RuleSetVersion, Run
from reconciliation.runs import services as runs
from tests.demo_runs import finished_position_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def applied(make_user):
    """A correction applied at once (within the auto-correction limits), and its run."""
    proposer = make_user("risk", username="proposer")
    run = finished_position_run()
    made = [services.propose(brk, by=proposer, reason="the exchange is right")
            for brk in Break.objects.filter(last_seen_run=run).order_by("id")]  # fmt: skip
    return next(c for c in made if c.status == "applied"), made


def _committed(change) -> None:
    # The keys are checked when the transaction commits (deferred, as Django declares them).
    with transaction.atomic():
        change()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_a_correction_judged_by_another_version_than_its_runs_is_refused(applied):
    correction, _ = applied
    other = RuleSetVersion.objects.exclude(pk=correction.rule_set_version_id).first()
    if other is None:  # the demo has one version: make a second one to point at
        other = RuleSetVersion.objects.get(pk=correction.rule_set_version_id)
        other.pk, other.number = None, other.number + 1
        other.save()
    change = Correction.objects.filter(pk=correction.pk).update
    with pytest.raises(IntegrityError, match="correction_of_its_run"):
        _committed(lambda: change(rule_set_version_id=other.pk))
    assert Correction.objects.get(pk=correction.pk).rule_set_version_id != other.pk


def test_a_correction_of_another_book_or_account_is_refused(applied):
    correction, _ = applied
    another_book = Dataset.objects.exclude(pk=correction.dataset_id).first()
    change = Correction.objects.filter(pk=correction.pk).update
    with pytest.raises(IntegrityError, match="correction_of_its_run"):
        _committed(lambda: change(dataset_id=another_book.pk))
    another_account = Account.objects.exclude(pk=correction.account_id).first()
    with pytest.raises(IntegrityError, match="correction_of_its_run"):
        _committed(lambda: change(account_id=another_account.pk))
    kept = Correction.objects.get(pk=correction.pk)
    assert (kept.dataset_id, kept.account_id) == (correction.dataset_id, correction.account_id)


def test_a_run_keeps_its_books_own_account(applied):
    correction, _ = applied
    corrected = Run.objects.get(pk=correction.run_id)
    assert corrected.internal_account_id == corrected.internal_dataset.account_id
    another_account = Account.objects.exclude(pk=corrected.internal_account_id).first()
    fresh = runs.start_run(type="position", internal=corrected.internal_dataset,
                           external=corrected.external_dataset)  # fmt: skip
    assert fresh.internal_account_id == corrected.internal_account_id
    made = Run.objects.create(  # however a run is made, it holds its book's account
        type="position", internal_dataset=corrected.internal_dataset,
        external_dataset=corrected.external_dataset, as_of=corrected.as_of,
        rule_set_version=corrected.rule_set_version,
    )  # fmt: skip
    assert made.internal_account_id == corrected.internal_account_id
    for run, key in ((fresh, "run_book_of_its_account"), (corrected, "correction_of_its_run")):
        change = Run.objects.filter(pk=run.pk).update
        with pytest.raises(IntegrityError, match=key):
            _committed(lambda change=change: change(internal_account_id=another_account.pk))
        assert Run.objects.get(pk=run.pk).internal_account_id == correction.account_id


def test_an_adjustment_set_applies_one_correction_only(applied):
    correction, made = applied
    pending = next(c for c in made if c.status == "pending")
    change = Correction.objects.filter(pk=pending.pk).update
    with pytest.raises(IntegrityError, match="one_correction_per_applied_set"):
        _committed(lambda: change(status="applied", applied_set_id=correction.applied_set_id,
                                  approved_at=correction.applied_at,
                                  applied_at=correction.applied_at))  # fmt: skip
    assert Correction.objects.get(pk=pending.pk).status == "pending"
