"""A break corrected through the services: proposed, approved by others, applied to the book, seen
resolved by the next run, rolled back, seen again; every step audited, the chain intact."""

from decimal import Decimal

import pytest

from audit import selectors as audit_selectors
from audit.models import AuditEvent
from corrections import services
from corrections.models import Correction
from reconciliation.models import Adjustment, AdjustmentSet, Break, Run
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from tests.demo_runs import finished_position_run

pytestmark = pytest.mark.django_db


def _rerun(run: Run) -> Run:
    again = runs.start_run(
        type=run.type,
        internal=run.internal_dataset,
        external=run.external_dataset,
        prices=run.prices_dataset,
    )
    run_execution.execute_run(again.pk)
    return Run.objects.get(pk=again.pk)


def _correctable(run: Run) -> Break:
    return (
        Break.objects.filter(last_seen_run=run, status="open", suggested_value__isnull=False)
        .exclude(field="value")
        .order_by("id")
        .first()
    )


def test_a_break_is_corrected_resolved_rolled_back_and_seen_again(make_user):
    proposer, first, second = make_user("risk"), make_user("risk"), make_user("risk")
    run = finished_position_run()
    brk = _correctable(run)
    correction = services.propose(brk, by=proposer, reason="book missed the exchange's fill")
    assert correction.original_value == (brk.internal_value or 0)
    assert correction.corrected_value == brk.suggested_value
    assert correction.delta == brk.suggested_value - (brk.internal_value or 0)
    if correction.approvals_required:
        assert correction.status == "pending"
        for approver in (first, second)[: correction.approvals_required]:
            correction = services.approve(correction, by=approver)
        assert correction.status == "approved"
        correction = services.apply(correction, by=first)
    assert correction.status == "applied"
    assert Adjustment.objects.filter(adjustment_set=correction.applied_set).count() == 1

    after = _rerun(run)
    assert after.adjustment_count == 1
    brk.refresh_from_db()
    assert brk.status == "resolved"

    correction = services.roll_back(correction, by=first, reason="the fill was reversed")
    assert correction.status == "rolled_back"
    assert correction.reversal_set.reverses_id == correction.applied_set_id
    again = _rerun(run)
    assert again.adjustment_count == 2
    assert again.break_count == run.break_count
    brk.refresh_from_db()
    assert brk.status == "open"
    actions = set(AuditEvent.objects.filter(object_type="correction",
                                            object_id=str(correction.pk))
                  .values_list("action", flat=True))  # fmt: skip
    assert {"correction.proposed", "correction.applied", "correction.rolled_back"} <= actions
    assert audit_selectors.verify_chain().ok


def test_the_creator_cannot_approve_and_nobody_approves_twice(make_user):
    proposer, other = make_user("risk"), make_user("risk")
    run = finished_position_run()
    brk = (Break.objects.filter(last_seen_run=run, suggested_value__isnull=False)
           .exclude(field="value").order_by("-value_rc").first())  # fmt: skip
    correction = services.propose(
        brk, by=proposer, reason="fix", corrected_value=brk.suggested_value
    )
    if correction.approvals_required == 0:
        pytest.skip("the demo's largest break is within the auto limits")  # never, in the demo
    with pytest.raises(services.CorrectionRefused, match="someone else"):
        services.approve(correction, by=proposer)
    correction = services.approve(correction, by=other)
    if correction.approvals_required == 2:
        with pytest.raises(services.CorrectionRefused, match="already"):
            services.approve(correction, by=other)


def test_a_stale_correction_is_refused_naming_both_values(make_user):
    proposer, approver = make_user("risk"), make_user("risk")
    run = finished_position_run()
    brk = _correctable(run)
    first = services.propose(brk, by=proposer, reason="first", corrected_value=Decimal("7"))
    if first.status != "applied":
        for _ in range(first.approvals_required):
            first = services.approve(first, by=[approver, make_user("risk")][_])
        first = services.apply(first, by=approver)
    # A correction built on the value before the first one was applied is now stale.
    stale = Correction.objects.get(pk=first.pk)
    stale.pk = None
    stale.status, stale.applied_set, stale.applied_at = "approved", None, None
    stale.break_record = Break.objects.exclude(pk=brk.pk).filter(last_seen_run=run).first()
    stale.save()
    sets = AdjustmentSet.objects.count()
    with pytest.raises(services.StaleCorrection) as refused:
        services.apply(stale, by=approver)
    assert "7" in refused.value.message and "now holds" in refused.value.message
    assert AdjustmentSet.objects.count() == sets
    assert Correction.objects.get(pk=stale.pk).status == "approved"


def test_admins_and_finance_do_not_approve(make_user):
    proposer = make_user("risk")
    run = finished_position_run()
    correction = services.propose(_correctable(run), by=proposer, reason="fix")
    for roles in (("admin",), ("finance",), ()):
        user = make_user(*roles)
        with pytest.raises(services.NotAllowed):
            services.approve(correction, by=user)
    superuser = make_user("admin")
    superuser.is_superuser = True
    superuser.save()
    with pytest.raises(services.NotAllowed):
        services.approve(correction, by=superuser)


def test_impact_is_valued_at_the_runs_price_with_its_time_and_portfolio_share(make_user):
    from reconciliation.models import PriceRecord

    run = finished_position_run()
    brk = Break.objects.get(last_seen_run=run, asset="ETH", field="quantity")
    correction = services.propose(brk, by=make_user("risk"), reason="decimal shift")
    assert PriceRecord.objects.filter(
        dataset=run.prices_dataset, asset="ETH", quote="USD", price=correction.price,
        as_of=correction.price_as_of,
    ).exists()  # fmt: skip
    assert correction.price_as_of <= run.as_of
    exact = abs(correction.delta) * correction.price
    assert correction.impact_rc == exact.quantize(Decimal("1e-18"))
    assert correction.reporting_currency == "USD"
    share = correction.impact_rc / correction.portfolio_value_rc * 100
    assert abs(correction.portfolio_share_pct - share) < Decimal("1e-15")
    assert 0 < correction.portfolio_share_pct < 100


def test_a_revised_correction_needs_approving_again_and_not_by_its_reviser(make_user):
    proposer, first, second = make_user("risk"), make_user("risk"), make_user("risk")
    run = finished_position_run()
    brk = Break.objects.get(last_seen_run=run, asset="ETH", field="quantity")
    correction = services.propose(brk, by=proposer, reason="decimal shift")
    assert correction.approvals_required == 2
    correction = services.approve(correction, by=first)
    old_hash = correction.content_hash
    revised = services.revise(correction, by=second, reason="the exchange's figure is wrong",
                              corrected_value=brk.suggested_value + 1)  # fmt: skip
    assert revised.status == "pending" and revised.content_hash != old_hash
    assert revised.created_by == second
    assert revised.approvals.filter(content_hash=revised.content_hash).count() == 0
    with pytest.raises(services.CorrectionRefused, match="someone else"):
        services.approve(revised, by=second)
    revised = services.approve(revised, by=first)  # approving the new content is a new approval
    revised = services.approve(revised, by=proposer)
    assert revised.status == "approved"
    again = services.revise(revised, by=first, reason="back", corrected_value=brk.suggested_value)
    assert again.status == "pending" and again.approved_at is None
    actions = list(AuditEvent.objects.filter(object_type="correction", object_id=str(again.pk))
                   .values_list("action", flat=True))  # fmt: skip
    assert actions.count("correction.revised") == 2


def test_a_new_proposal_links_to_the_rejected_one(make_user):
    proposer, checker = make_user("risk"), make_user("risk")
    run = finished_position_run()
    brk = _correctable(run)
    first = services.propose(brk, by=proposer, reason="first try", corrected_value=Decimal("1"))
    if first.status == "applied":
        first = services.roll_back(first, by=checker, reason="wrong value")
    else:
        with pytest.raises(services.CorrectionRefused, match="Say why"):
            services.reject(first, by=checker, reason="  ")
        first = services.reject(first, by=checker, reason="wrong value")
    second = services.propose(brk, by=proposer, reason="second try")
    assert second.supersedes == first
    with pytest.raises(services.CorrectionRefused):
        services.approve(first, by=checker)  # rejection (or roll back) is final
