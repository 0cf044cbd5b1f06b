import pytest

from reconciliation.demo import data as demo_data
from reconciliation.models import Break
from tests.e2e.conftest import run_as_risk

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_risk_runs_a_reconciliation_and_works_a_break(
    page, live_server, make_user, worker_queue, screenshot
):
    ids = demo_data.load()
    run_as_risk(
        page, live_server, make_user, "position", ids["book balances"], ids["kraken ledgers"]
    )
    screenshot("run-succeeded")
    page.click("text=See the breaks")
    page.wait_for_selector("h1:has-text('Breaks')")
    screenshot("breaks-list")
    eth = Break.objects.get(asset="ETH", type="position")
    page.click(f"a[href='/breaks/{eth.pk}/']")
    page.wait_for_selector("[data-cause=decimal_shift]")
    page.fill("textarea[name=text]", "Book shows ten times the ETH: a decimal shift on import.")
    page.click("text=Add a comment")
    page.wait_for_selector("text=a decimal shift on import")
    page.select_option("select[name=action]", "accept")
    page.fill("input[name=reason]", "Known import error, fixed upstream")
    page.click("form.actions >> text=Apply")
    page.wait_for_selector("text=1 break updated")
    screenshot("break-detail")
    eth.refresh_from_db()
    assert eth.status == "accepted" and eth.comments.count() == 1
