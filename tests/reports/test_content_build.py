"""The content builder over stored runs, breaks and corrections (real PostgreSQL): each figure
checked against the database by another road (ORM aggregates), and the refusals."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.db.models.functions import Abs
from django.utils import timezone

from audit.models import AuditEvent
from corrections import services as corrections
from corrections.models import Correction
from reconciliation.breaks import workflow
from reconciliation.models import Break, BreakObservation, Run
from reports.content import builder
from reports.content.builder import ScopeRefused, Wanted
from tests.corrections import large_books

pytestmark = pytest.mark.django_db


@pytest.fixture
def proposed_run():
    run = large_books.finished_run(40)
    corrections.propose_for_run(run)
    return Run.objects.get(pk=run.pk)


def test_a_runs_content_counts_what_the_database_holds(proposed_run):
    content = builder.build(Wanted(run_id=proposed_run.pk), generated_by="finance-fay")
    seen = BreakObservation.objects.filter(run_id=proposed_run.pk)
    assert len(content.breaks) == seen.count() == 40
    assert {b.id for b in content.breaks} == set(seen.values_list("break_record_id", flat=True))
    expected = Break.objects.filter(
        pk__in=seen.values("break_record_id"), status__in=["open", "investigating"]
    ).aggregate(v=Sum(Abs("value_rc")))["v"]
    assert content.value_at_risk == expected
    assert sum(x.count for x in content.by_severity) == 40
    assert sum(x.value_rc for x in content.exposures) == expected
    stored = Correction.objects.filter(run=proposed_run)
    assert len(content.corrections) == stored.count() > 0
    automatic = stored.filter(auto_approved=True).count()
    rate = {f.key: f for f in content.performance}["auto_correction_rate"].value
    assert rate == (Decimal(automatic * 100) / stored.count()).quantize(Decimal("0.01"))
    head = AuditEvent.objects.order_by("-sequence").first()
    assert (content.chain_head.sequence, content.chain_head.hash) == (head.sequence, head.hash)
    assert content.rule_set_versions and content.scope.runs[0].id == proposed_run.pk
    # Prices: every exposure's asset was valued with the run's price feed (1 to 7 USD).
    assert all(Decimal(1) <= x.price <= Decimal(7) for x in content.exposures)
    assert [c.key for c in content.charts][:1] == ["by_severity"]


def test_a_severity_filter_narrows_breaks_and_corrections(proposed_run):
    everything = builder.build(Wanted(run_id=proposed_run.pk), generated_by="x")
    severity = everything.breaks[0].severity
    narrowed = builder.build(
        Wanted(period_from=date.today() - timedelta(days=1), period_to=date.today(),
               filters={"severity": severity}), generated_by="x",
    )  # fmt: skip
    assert narrowed.breaks and {b.severity for b in narrowed.breaks} == {severity}
    assert len(narrowed.breaks) == sum(b.severity == severity for b in everything.breaks)
    ids = {b.id for b in narrowed.breaks}
    assert {c.break_id for c in narrowed.corrections} <= ids


def test_a_period_with_no_runs_says_so():
    content = builder.build(
        Wanted(period_from=date(2020, 1, 1), period_to=date(2020, 1, 31)), generated_by="x"
    )
    assert content.breaks == () and content.scope.runs == ()
    assert "no runs" in content.scope.description
    shown = {f.key: f for f in content.performance}
    assert shown["match_rate_count"].value is None
    assert shown["match_rate_count"].note == "no runs in scope"
    assert content.value_at_risk == 0 and content.charts == ()
    assert content.summary.regulatory_status == "No regulatory flag raised."


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        (Wanted(run_id=999_999), "There is no run 999999."),
        (Wanted(period_from=date(2026, 2, 1), period_to=date(2026, 1, 1)), "starts"),
        (Wanted(period_from=date(2026, 1, 1)), "first and last day"),
        (Wanted(run_id=1, filters={"colour": "red"}), "Unknown report filter(s): colour."),
    ],
)
def test_a_scope_that_cannot_be_reported_is_refused(wanted, message):
    with pytest.raises(ScopeRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        builder.build(wanted, generated_by="x")


def test_a_run_that_did_not_succeed_is_refused(proposed_run):
    Run.objects.filter(pk=proposed_run.pk).update(status="failed", finished_at=timezone.now())
    with pytest.raises(ScopeRefused, match="is failed: only a succeeded run"):
        builder.build(Wanted(run_id=proposed_run.pk), generated_by="x")


def test_breaks_are_listed_most_severe_then_most_value_then_oldest(proposed_run):
    content = builder.build(Wanted(run_id=proposed_run.pk), generated_by="x")
    rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    stored = BreakObservation.objects.filter(run_id=proposed_run.pk)
    expected = sorted(
        stored.values_list("break_record_id", "severity", "value_rc"),
        key=lambda o: (rank[o[1]], o[2] is None, -abs(o[2] or 0), o[0]),
    )
    assert [b.id for b in content.breaks] == [o[0] for o in expected]
    assert len({b.severity for b in content.breaks}) > 1  # the order had something to sort


def test_each_break_carries_its_latest_comment_and_the_list_only_its_scopes(
    proposed_run, make_user
):
    risk = make_user("risk")
    first, second = Break.objects.filter(last_seen_run=proposed_run).order_by("id")[:2]
    workflow.comment(first.pk, text="asked the desk", by=risk)
    workflow.comment(first.pk, text="desk confirmed the fill", by=risk)
    # A later run over five more assets: its new breaks, and their comments, are not in scope.
    other = large_books.finished_run(45)
    seen = BreakObservation.objects.filter(run=proposed_run).values("break_record_id")
    outside = Break.objects.filter(last_seen_run=other).exclude(pk__in=seen).first()
    workflow.comment(outside.pk, text="elsewhere", by=risk)
    content = builder.build(Wanted(run_id=proposed_run.pk), generated_by="x")
    lines = {b.id: b for b in content.breaks}
    assert lines[first.pk].comment == "desk confirmed the fill"
    assert lines[second.pk].comment == ""
    assert [(c.break_id, c.text) for c in content.comments] == [
        (first.pk, "asked the desk"), (first.pk, "desk confirmed the fill"),
    ]  # fmt: skip
    touched = {f.key: f for f in content.performance}["manual_intervention_rate"]
    assert touched.value > 0


def test_no_collection_runs_while_the_content_is_built(proposed_run):
    import gc
    import sys

    inside, after = [], []

    def seen(phase, info):  # a collection starting: was the builder on the stack?
        if phase != "start":
            return
        frame = sys._getframe()
        while frame is not None and frame.f_code is not builder._build.__code__:
            frame = frame.f_back
        (inside if frame is not None else after).append(info["generation"])

    threshold = gc.get_threshold()
    gc.set_threshold(1)  # without the pause, a collection every few objects made
    gc.callbacks.append(seen)
    try:
        content = builder.build(Wanted(run_id=proposed_run.pk), generated_by="x")
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*threshold)
    assert len(content.breaks) == 40
    assert inside == [] and after  # none inside; it resumed once the content was made
