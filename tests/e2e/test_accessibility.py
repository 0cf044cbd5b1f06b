"""Every main page, checked in Chromium by axe-core for each role that uses it: no serious or
critical accessibility violation (labels, names, contrast, structure), at 1280 and 800 px."""

from pathlib import Path

import pytest

from corrections import services as corrections
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset, RuleSetVersion
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from tests.e2e.test_sign_in_flow import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "vendor" / "axe-core-4.10.2" / "axe.min.js"
SERIOUS = ("serious", "critical")
PAGES = {
    "risk": ["/", "/breaks/", "/breaks/{break}/", "/corrections/", "/corrections/{correction}/",
             "/runs/", "/runs/{run}/", "/datasets/", "/datasets/upload/", "/accounts/tokens/"],
    "finance": ["/", "/reports/", "/reports/packs/", "/breaks/"],
    "admin": ["/", "/rules/", "/rules/versions/{version}/", "/schedules/", "/audit/",
              "/datasets/aliases/"],
}  # fmt: skip


@pytest.fixture
def desk(make_user):
    ids = demo_data.load()
    data = {name: Dataset.objects.get(pk=pk) for name, pk in ids.items()}
    run = runs.start_run(type="position", internal=data["book balances"],
                         external=data["kraken ledgers"], prices=data["prices"])  # fmt: skip
    run_execution.execute_run(run.pk)
    proposer = make_user("risk", username="paula")
    largest = Break.objects.order_by("-value_rc").first()
    correction = corrections.propose(largest, by=proposer, reason="the book missed a fill")
    for role, name in (("risk", "rita"), ("finance", "fay"), ("admin", "ada")):
        make_user(role, username=name)
    return {"run": run.pk, "break": largest.pk, "correction": correction.pk,
            "version": RuleSetVersion.objects.first().pk}  # fmt: skip


def violations(page) -> list[dict]:
    page.evaluate(AXE.read_text())
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
          .map(v => ({id: v.id, impact: v.impact, help: v.help,
                      nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
    )


@pytest.mark.parametrize("width", [1280, 800])
@pytest.mark.parametrize(("role", "user"), [("risk", "rita"), ("finance", "fay"), ("admin", "ada")])
def test_no_serious_accessibility_violation_on_a_main_page(page, live_server, desk, role, user,
                                                           width):  # fmt: skip
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, user)
    found = {}
    for path in PAGES[role]:
        page.goto(live_server.url + path.format(**desk))
        serious = [v for v in violations(page) if v["impact"] in SERIOUS]
        if serious:
            found[path] = serious
    assert found == {}
