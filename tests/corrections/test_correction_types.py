"""A correction for every run type the demo's data breaks: proposed from each break with a
suggested value, approved as the policy asks, applied; the next run of the same datasets no
longer sees those breaks; rolled back, it sees them again."""

import pytest

from corrections import services
from corrections.models import Correction
from corrections.targets import NotCorrectable
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset, Run
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db

SIDES = {
    "trades": ("book trades", "kraken trades"),
    "fees": ("book trades", "kraken trades"),
    "pnl": ("book pnl", "kraken trades"),
    "margin": ("book margin", "kraken margin"),
    "cash": ("book balances", "kraken ledgers"),
    "valuation": ("book balances", "kraken ledgers"),
}


def _run(type_, ids) -> Run:
    internal, external = (Dataset.objects.get(pk=ids[name]) for name in SIDES[type_])
    run = runs.start_run(type=type_, internal=internal, external=external)
    run_execution.execute_run(run.pk)
    return Run.objects.get(pk=run.pk)


@pytest.mark.parametrize("type_", sorted(SIDES))
def test_corrections_of_a_run_type_resolve_its_breaks_and_roll_back(type_, make_user):
    people = [make_user("risk") for _ in range(3)]
    ids = demo_data.load()
    run = _run(type_, ids)
    corrected = []
    for brk in Break.objects.filter(last_seen_run=run, suggested_value__isnull=False):
        try:
            correction = services.propose(brk, by=people[0], reason=f"{type_} fix")
        except NotCorrectable:
            continue  # said what to do instead (tested in the refusal tests)
        for approver in people[1 : 1 + correction.approvals_required]:
            services.approve(correction, by=approver)
        corrected.append(brk.pk)
    if not corrected:
        pytest.skip(f"the demo's {type_} run has no correctable break")
    services.apply_run(run, by=people[1])
    assert set(Correction.objects.filter(run=run).values_list("status", flat=True)) == {"applied"}
    after = _run(type_, ids)
    still = Break.objects.filter(pk__in=corrected, last_seen_run=after)
    assert list(still.values_list("break_key", "internal_value", "external_value")) == []
    services.roll_back_run(run, by=people[2], reason="check the way back")
    again = _run(type_, ids)
    seen = set(Break.objects.filter(last_seen_run=again).values_list("pk", flat=True))
    assert set(corrected) <= seen
